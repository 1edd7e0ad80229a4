"""Where a write to a rendered object goes in Git, or why it cannot go there yet.

An object whose document lies in its source's own directory (a plain directory app, an
overlay's own resource) is changed in that document: the difference between the object
as rendered and as submitted is applied to the document, the source is rendered again
with the new file, and the write is committed only when the reconciler would then apply
exactly the object submitted. An object that comes from elsewhere (a base, a chart) is
refused with a 422 naming the files that make it: gitplane never writes a shared base
by surprise. The file is written whole (store.model.FileWrite), compared with the blob
the change was worked out on.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import jsonpatch
import pygit2

from sources.gittree import GitTree, normalize
from sources.model import Rendered, RenderError, RenderResult
from store.documents import file_segments, is_blank, is_list
from store.equality import same
from store.errors import Conflict, FieldCause, Invalid, NotFound
from store.keys import ObjectKey, key_of
from store.loader import LoadError, load_document
from store.model import Delete, FileWrite, Operation, Put
from store.yamledit import FileEdit

if TYPE_CHECKING:
    from sources.view import RenderedStore


def place(store: RenderedStore, operations: Sequence[Operation]) -> list[Operation]:
    """The Git store's operations that make `operations` on the rendered objects."""
    tip = store.current
    assert tip is not None
    placed: list[Operation] = []
    edits: dict[str, tuple[FileEdit, str]] = {}  # path -> (the file's edit, its blob)
    for op in operations:
        if isinstance(op, FileWrite):
            placed.append(op)
            continue
        key = op.key if isinstance(op, Delete) else key_of(op.obj, op.namespace or "")
        rendered = tip.desired.objects.get(key)
        meta = store.head.meta.get(key.namespace, key)
        if op.expect_rv and meta is not None and op.expect_rv != meta.resource_version:
            raise Conflict(
                f"{key} has been modified (resourceVersion {meta.resource_version}, expected"
                f" {op.expect_rv}); apply your changes to the latest version and try again",
                (str(key),),
            )
        if rendered is None:
            if isinstance(op, Delete) or op.mode == "update":
                raise NotFound(f"{key} not found")
            placed.append(_new_object(store, key, op))
            continue
        if isinstance(op, Put) and op.mode == "create":
            from store.errors import AlreadyExists  # noqa: PLC0415

            raise AlreadyExists(f"{key} already exists")
        if isinstance(op, Put) and same(op.obj, rendered.obj):
            # Nothing to place: a write that only keeps bookkeeping (a finalizer, a
            # controller's annotation) must work on a base's objects too.
            continue
        if rendered.source.kind == "File":  # a source's own manifest, served from its file
            result = None
            path, segment, item, document = _locate(store, key, rendered, rendered.files[0])
        else:
            result = _result_of(store, rendered)
            path, segment, item, document = _document_of(store, key, rendered, result)
        if path not in edits:
            tree = _tree(store)
            blob = (tree.id_of(path) or "") if tree.is_file(path) else ""
            text = (_tree(store).read(path) or b"").decode()
            edits[path] = (
                FileEdit(
                    file_segments(text.encode(), path.endswith(".json")), path.endswith(".json")
                ),
                blob,
            )
        file_edit = edits[path][0]
        if isinstance(op, Delete):
            if result is not None and result.source.tool != "directory":
                raise _refused(
                    key, rendered, "deleting it means changing the kustomization that lists it"
                )
            file_edit.remove(segment, item, document)
            continue
        file_edit.replace(
            segment, item, _changed_document(key, rendered, op.obj, document), document
        )
    for path, (file_edit, blob) in edits.items():
        placed.append(FileWrite(path, file_edit.render(), blob))
    _verify(store, operations, [p for p in placed if isinstance(p, FileWrite)])
    return placed


def _tree(store: RenderedStore) -> GitTree:
    tip = store.current
    assert tip is not None
    repo = store._repo()
    commit = tip.commit_id
    return GitTree(repo, str(repo[commit].peel(pygit2.Tree).id) if commit else None)


def _result_of(store: RenderedStore, rendered: Rendered) -> RenderResult:
    for result in store.results():
        if result.source.ref == rendered.source:
            return result
    raise _refused_plain(rendered, "it is the manifest of a source itself")


def _document_of(
    store: RenderedStore, key: ObjectKey, rendered: Rendered, result: RenderResult
) -> tuple[str, int, int | None, Any]:
    """The file and document an object is declared in, when that is in its source's
    own directory (else a 422 naming the files that make it)."""
    source = result.source
    artifact = source.options.get("artifact")
    if artifact is not None:
        raise _refused(
            key,
            rendered,
            f"Flux builds it from ExternalArtifact {artifact['name']}, which ArtifactGenerator"
            f" {artifact['generator']} ({artifact['declared_in']}) lays out from these files",
        )
    if source.tool not in ("directory", "kustomize") or not rendered.files:
        raise _refused(key, rendered, f"a {source.tool} source renders it from a template")
    path = rendered.files[0]
    prefix = f"{normalize(source.path)}/" if normalize(source.path) else ""
    if not path.startswith(prefix):
        raise _refused(
            key,
            rendered,
            f"its document is in {path}, outside {source.path or '.'}, which other sources"
            " may render too",
        )
    return _locate(store, key, rendered, path)


def _locate(
    store: RenderedStore, key: ObjectKey, rendered: Rendered, path: str
) -> tuple[str, int, int | None, Any]:
    """The document of `path` that declares the object (by kind, then name)."""
    text = _tree(store).read(path)
    if text is None:
        raise _refused(key, rendered, f"{path} is not a regular file")
    is_json = path.endswith(".json")
    name = str(rendered.obj.get("metadata", {}).get("name", ""))
    candidates = []
    for index, segment in enumerate(file_segments(text, is_json)):
        if is_blank(segment):
            continue
        try:
            doc = load_document(segment, is_json)
        except LoadError:
            continue
        items = list(enumerate(doc["items"])) if is_list(doc) else [(None, doc)]
        for item, obj in items:
            if isinstance(obj, dict) and obj.get("kind") == rendered.obj.get("kind"):
                candidates.append((index, item, obj))
    exact = [c for c in candidates if c[2].get("metadata", {}).get("name") == name]
    if len(exact) == 1:
        return (path, *exact[0])
    named = [c for c in candidates if str(c[2].get("metadata", {}).get("name", "")) in name]
    if len(named) == 1:
        return (path, *named[0])
    raise _refused(
        key, rendered, f"its document in {path} cannot be told apart from the others there"
    )


def _changed_document(
    key: ObjectKey, rendered: Rendered, submitted: dict[str, Any], document: Any
) -> Any:
    """The document with the change from the rendered object to the submitted one."""
    patch = jsonpatch.make_patch(rendered.obj, submitted)
    try:
        return jsonpatch.apply_patch(copy.deepcopy(document), patch)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException):
        raise _refused(
            key, rendered, "the change is to what the source adds, not to the document"
        ) from None


def _new_object(store: RenderedStore, key: ObjectKey, op: Put) -> Operation:
    """A new object: a new file in the one directory source that applies to its namespace."""
    tip = store.current
    assert tip is not None
    sources = [
        r.source
        for r in tip.desired.results.values()
        if r.source.destination == key.namespace and not r.source.skipped
    ]
    if not sources:
        raise Invalid(
            f"{key}: no Application or Kustomization applies namespace {key.namespace!r}; add one"
            " to the repository, or declare the object where a source renders it",
            [
                FieldCause(
                    "metadata.namespace", f"Invalid value: {key.namespace!r}: no source applies it"
                )
            ],
        )
    directories = [s for s in sources if s.tool == "directory"]
    if len(directories) != 1:
        listed = ", ".join(f"{s.ref} ({s.tool} at {s.path or '.'})" for s in sources)
        raise Invalid(
            f"{key}: a new object here means changing one of the sources of {key.namespace}"
            f" ({listed}); add it there in Git",
            [FieldCause("", f"Invalid value: rendered by {listed}")],
        )
    source = directories[0]
    obj = op.obj
    meta = dict(obj.get("metadata") or {})
    if meta.get("namespace") == source.destination:
        meta.pop("namespace")  # the destination applies it, as in the source's other files
    directory = normalize(source.path)
    name = f"{key.kind.lower()}-{key.name}.yaml"
    path = f"{directory}/{name}" if directory else name
    from store.yamledit import dump_document  # noqa: PLC0415

    return FileWrite(path, dump_document({**obj, "metadata": meta}), "")


def _verify(store: RenderedStore, operations: Sequence[Operation], writes: list[FileWrite]) -> None:
    """Render the touched sources with the new files: the reconciler must then apply
    exactly what was submitted, or nothing is written."""
    tip = store.current
    if tip is None or not writes:
        return
    overrides = {w.path: w.text for w in writes}
    documents = [
        (e.path, e.obj)
        for entries in store.git.head.snapshot.declarations.values()
        for e in entries
    ]
    wanted: dict[ObjectKey, dict[str, Any] | None] = {}
    for op in operations:
        if isinstance(op, Delete):
            wanted[op.key] = None
        elif isinstance(op, Put):
            wanted[key_of(op.obj, op.namespace or "")] = op.obj
    for key in list(wanted):
        known = tip.desired.objects.get(key)
        if known is not None and known.source.kind == "File":
            del wanted[key]  # served from its own file as it is
    touched = [r for r in tip.desired.results.values() if r.reads_any(set(overrides))]
    seen: dict[ObjectKey, dict[str, Any]] = {}
    base_tree = _tree(store).tree_id
    for result in touched:
        try:
            objects = store.engine.render_with(result.source, tip.commit_id, documents, overrides)
            store.engine.hand_over(result.source, base_tree, overrides, objects)
        except RenderError as exc:
            raise Invalid(
                f"the change does not render: {exc}", [FieldCause("", f"Invalid value: {exc}")]
            ) from None
        for rendered in objects:
            placed = store.engine.place(result.source, rendered.obj, documents)
            try:
                seen[key_of(placed, "")] = placed
            except Invalid:
                continue
    for key, obj in wanted.items():
        got = seen.get(key)
        if obj is None and got is None:
            continue
        if obj is not None and got is not None and same(_without_status(got), _without_status(obj)):
            continue
        known = tip.desired.objects.get(key)
        files = ", ".join(known.files) if known else "its source"
        raise Invalid(
            f"{key}: written to Git, the change would not be applied as submitted (rendered"
            f" from {files}); make it there in Git",
            [FieldCause("", f"Invalid value: rendered again from {files}, it differs")],
        )


def _without_status(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != "status"}


def _refused(key: ObjectKey, rendered: Rendered, why: str) -> Invalid:
    files = ", ".join(rendered.files)
    return Invalid(
        f"{key} is rendered from {files}: {why}; make the change in Git there (writes to it"
        " through gitplane are not supported yet)",
        [FieldCause("", f"Forbidden: rendered from {files}: {why}", "FieldValueForbidden")],
    )


def _refused_plain(rendered: Rendered, why: str) -> Invalid:
    files = ", ".join(rendered.files)
    return Invalid(
        f"{files}: {why}; change it in Git",
        [FieldCause("", f"Forbidden: {why}", "FieldValueForbidden")],
    )
