"""resourceVersions of what the API serves: the branch's, and bookkeeping's between them.

A branch commit's version (store.timeline) is scaled by SCALE; a bookkeeping commit made
on that branch commit adds its index among those made on it (1, 2, ...). So versions are
numbers that grow in the order every reader sees the changes (bookkeeping commits are
ordered by the branch commit they name, store.bookkeeping), a version says which branch
commit it stands on (history rewritten there: Expired), and one not reached yet is
recognisable (Too large resource version)."""

from __future__ import annotations

from store import timeline

SCALE = 1_000_000  # bookkeeping commits one branch commit can have before the next


def encode(branch_rv: str, index: int = 0) -> str:
    return str(int(branch_rv) * SCALE + index)


def decode(rv: str) -> tuple[str, int]:
    """(the branch's version, the bookkeeping index on it) of a served version."""
    number = int(rv)
    return str(number // SCALE), number % SCALE


def is_later(rv: str, than: str) -> bool:
    """Whether `rv` is a version not reached at `than` (further along the branch, or more
    bookkeeping on the same branch commit)."""
    branch, index = decode(rv)
    at, at_index = decode(than)
    return timeline.is_later(branch, at) or (branch == at and index > at_index)


def newest(*versions: str) -> str:
    return max((v for v in versions if v), key=int)
