"""The check every file gitplane commits passes, whatever asked for it (the API, a
ChangeSet, a revert or rollback, the CLI): its text as Git will store it, loaded again
with the loader every reader uses (store.loader).

So nothing is committed that the servers could not read back the same way (a document
that does not load: an alias bomb, a duplicate key), and no secret value reaches Git in
plaintext, however it was spelled or nested (store.secrets). Documents the file already
held word for word are left to their authors: an edit of one document never blocks on
another one pushed from outside.
"""

from __future__ import annotations

from store.documents import LOADED, file_segments, is_blank
from store.errors import FieldCause, Invalid
from store.loader import LoadError, load_document
from store.secrets import PLAINTEXT_MESSAGE, may_hold_secret, secret_values


def check_file(path: str, before: tuple[str, ...], text: str) -> None:
    """Raise Invalid unless every document of `text` that is not in `before` (the file's
    documents as they were) loads back and holds no secret value."""
    is_json = path.endswith(".json")
    kept = set(before)
    for segment in file_segments(text.encode(), is_json):
        if is_blank(segment) or segment in kept:
            continue
        loaded = None if is_json else LOADED.take(segment)
        try:
            doc = loaded if loaded is not None else load_document(segment, is_json)
        except LoadError as exc:
            raise Invalid(
                f"{path}: the document to be written does not load back: {exc}",
                [FieldCause("", f"Invalid value: {exc.reason}")],
            ) from None
        if may_hold_secret(segment) and (values := secret_values(doc)):
            raise Invalid(
                f"{path}: {PLAINTEXT_MESSAGE}",
                [
                    FieldCause(value.field, f"Forbidden: {value.reason}", "FieldValueForbidden")
                    for value in values
                ],
            )
        if not is_json:
            LOADED.hand_over(segment, doc)  # the parse of the committed file takes it
