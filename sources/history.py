"""A namespace's history when it is rendered: the commits that changed what its sources
read, with diffs of the rendered objects, and reverts and rollbacks of those files.

A commit to `overlays/dev` is a revision of `my-app-dev` only; a commit to the base is
a revision of all three overlays' namespaces. Listing a namespace's revisions reads only
which files each commit changed; a revision's own changes and diff are rendered at the
commit and its parent (from the render cache when nothing changed). A revert or rollback
writes the files back, and refuses (422) when a file it would write is read by another
namespace too: reverting a base change "in prod only" cannot be done by a file.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import pygit2

from sources.engine import DesiredState
from sources.model import RenderResult
from store.errors import Conflict, FieldCause, Invalid
from store.gitobjects import blob_data
from store.history import (
    TRAILER_OPERATION,
    History,
    ObjectChange,
    Revision,
    RevisionPage,
    _revision,
)
from store.keys import ObjectKey
from store.model import FileWrite, Requester, WriteResult
from store.secret_text import redact_secret_pair
from store.yamledit import dump_document

if TYPE_CHECKING:
    from sources.view import RenderedStore

_SCAN_LIMIT = 20_000  # commits looked at for one page of a namespace's revisions


class RenderedHistory:
    def __init__(self, rendered: RenderedStore) -> None:
        self.rendered = rendered
        self.plain = History(rendered.git)
        self._changed: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._states: OrderedDict[str | None, DesiredState] = OrderedDict()
        self._lock = threading.Lock()

    # ---- reading --------------------------------------------------------------------

    def revisions(
        self, namespace: str | None = None, limit: int = 50, continue_token: str | None = None
    ) -> RevisionPage:
        if not self.rendered.rendering:
            return self.plain.revisions(namespace, limit, continue_token)
        git = self.rendered.git
        git.refresh()
        with git._lock:
            steps = list(git._timeline.steps)
        end = len(steps)
        if continue_token:
            end = git._timeline.position(continue_token)
        reads = self._reads(namespace)
        repo = git._repo()
        chosen: list[tuple[Any, list[ObjectChange]]] = []
        scanned = 0
        position = end - 1
        while position >= 0 and len(chosen) <= limit and scanned < _SCAN_LIMIT:
            step = steps[position]
            changed = self._changed_paths(repo, step.commit_id)
            if any(_reads(read, changed) for read in reads):
                chosen.append((step, self._listed_changes(namespace, changed)))
            position -= 1
            scanned += 1
        token = None
        if limit > 0 and len(chosen) > limit:
            chosen = chosen[:limit]
            token = chosen[-1][0].resource_version
        items = [_revision(repo, s.commit_id, s.resource_version, changes) for s, changes in chosen]
        return RevisionPage(items, token)

    def revisions_since(
        self, since_rv: str, namespace: str | None = None
    ) -> tuple[list[Revision], str]:
        if not self.rendered.rendering:
            return self.plain.revisions_since(since_rv, namespace)
        rendered = self.rendered
        with rendered._lock:
            pairs = rendered._timeline.changes_since(since_rv)
            reached = rendered._timeline.resource_version
        by_step: dict[str, tuple[Any, list[ObjectChange]]] = {}
        for step, change in pairs:
            if namespace is None or change.key.namespace == namespace:
                by_step.setdefault(step.resource_version, (step, []))[1].append(
                    ObjectChange(change.type, change.key)
                )
        repo = rendered.git._repo()
        revisions = [
            _revision(repo, s.commit_id, s.resource_version, changes)
            for s, changes in by_step.values()
        ]
        return revisions, reached

    def resolve(self, revision: str) -> str:
        return self.plain.resolve(revision)

    def revision(self, revision: str, namespace: str | None = None) -> Revision:
        if not self.rendered.rendering:
            return self.plain.revision(revision, namespace)
        commit_id = self.resolve(revision)
        before, after = self._rendered_pair(commit_id, namespace)
        changes = [
            ObjectChange(
                "ADDED" if key not in before else "DELETED" if key not in after else "MODIFIED", key
            )
            for key in sorted(set(before) | set(after))
            if before.get(key) != after.get(key)
        ]
        git = self.rendered.git
        with git._lock:
            rv = git._timeline.steps[git._timeline.position_of_commit[commit_id]].resource_version
        return _revision(git._repo(), commit_id, rv, changes)

    def diff(self, revision: str, namespace: str | None = None) -> str:
        """A unified diff of the rendered objects the commit changed (values redacted)."""
        if not self.rendered.rendering:
            return self.plain.diff(revision, namespace)
        commit_id = self.resolve(revision)
        before, after = self._rendered_pair(commit_id, namespace, with_paths=True)
        parts = []
        for key in sorted(set(before) | set(after)):
            old, new = before.get(key), after.get(key)
            if old == new:
                continue
            old_text, new_text = (dump_document(o[0]) if o else "" for o in (old, new))
            old_text, new_text = redact_secret_pair(old_text, new_text)
            path = (new or old)[1]  # type: ignore[index]
            label = (
                f"{key.namespace}/{key.kind.lower()}-{key.name}.yaml"
                if key.namespace
                else f"{key.kind.lower()}-{key.name}.yaml"
            )
            patch = pygit2.Patch.create_from(
                old_text.encode(), new_text.encode(), old_as_path=label, new_as_path=label
            )
            body = patch.text or ""
            start = body.find("@@")
            parts.append(
                f"diff --git a/{label} b/{label}\n# rendered from {path}\n"
                f"--- {'a/' + label if old else '/dev/null'}\n"
                f"+++ {'b/' + label if new else '/dev/null'}\n"
                + (body[start:] if start >= 0 else "")
            )
        return "".join(parts)

    def operations(self, namespace: str, operation: str) -> list[Revision]:
        """Past reverts or rollbacks in a namespace, newest first (read from trailers)."""
        if not self.rendered.rendering:
            return self.plain.operations(namespace, operation)
        git = self.rendered.git
        repo = git._repo()
        with git._lock:
            steps = list(git._timeline.steps)
        found = []
        for step in reversed(steps[-_SCAN_LIMIT:]):
            revision = _revision(repo, step.commit_id, step.resource_version, [])
            trailers = revision.trailers
            if (
                trailers.get(TRAILER_OPERATION) == operation
                and trailers.get("Gitplane-Namespace") == namespace
            ):
                found.append(revision)
        return found

    # ---- changing -------------------------------------------------------------------

    def revert(self, revision: str, namespace: str, who: Requester, **kwargs: Any) -> WriteResult:
        if not self.rendered.rendering:
            return self.plain.revert(revision, namespace, who, **kwargs)
        commit_id = self.resolve(revision)
        repo = self.rendered.git._repo()
        commit = repo[commit_id].peel(pygit2.Commit)
        parent = commit.parents[0].tree if commit.parents else None
        paths = sorted(
            p
            for p in self._changed_paths(repo, commit_id)
            if any(_reads(r, {p}) for r in self._reads(namespace))
        )
        if not paths:
            raise Invalid(
                f"revision {commit_id[:12]} changed nothing namespace {namespace!r} renders"
            )
        self._refuse_shared(paths, namespace, "revert")
        tip = (
            repo[self.rendered.git.head.commit_id].peel(pygit2.Tree)
            if self.rendered.git.head.commit_id
            else None
        )
        writes = []
        moved = []
        for path in paths:
            then, now = _blob(commit.tree, path), _blob(tip, path)
            if then != now:
                moved.append(path)
                continue
            before = _blob(parent, path)
            text = blob_data(repo, before).decode() if before else None
            writes.append(FileWrite(path, text, now or ""))
        if moved:
            raise Conflict(
                f"cannot revert {commit_id[:12]} in namespace {namespace!r}: changed since by"
                f" later commits: {', '.join(moved)}",
                tuple(moved),
            )
        message = (
            f'Revert "{commit.message.splitlines()[0]}" in namespace {namespace}\n\n'
            f"This reverts commit {commit_id} in the files namespace {namespace} renders."
        )
        trailers = {"Gitplane-Reverts": commit_id}
        return self._commit(writes, who, "revert", namespace, message, trailers, kwargs)

    def rollback(self, revision: str, namespace: str, who: Requester, **kwargs: Any) -> WriteResult:
        if not self.rendered.rendering:
            return self.plain.rollback(revision, namespace, who, **kwargs)
        commit_id = self.resolve(revision)
        repo = self.rendered.git._repo()
        then_tree = repo[commit_id].peel(pygit2.Tree)
        head = self.rendered.git.head.commit_id
        now_tree = repo[head].peel(pygit2.Tree) if head else None
        reads = self._reads(namespace)
        paths = sorted(
            p
            for p in set(_files(then_tree)) | set(_files(now_tree))
            if any(_reads(r, {p}) for r in reads)
        )
        changed = [p for p in paths if _blob(then_tree, p) != _blob(now_tree, p)]
        if not changed:
            return WriteResult(
                None, self.rendered.head.resource_version, dry_run=bool(kwargs.get("dry_run"))
            )
        self._refuse_shared(changed, namespace, "roll back")
        writes = []
        for path in changed:
            wanted = _blob(then_tree, path)
            writes.append(
                FileWrite(
                    path,
                    blob_data(repo, wanted).decode() if wanted else None,
                    _blob(now_tree, path) or "",
                )
            )
        message = (
            f"Roll back namespace {namespace} to {commit_id[:12]}\n\n"
            f"The files namespace {namespace} renders are as they were at commit {commit_id}."
        )
        trailers = {"Gitplane-Rollback-To": commit_id}
        return self._commit(writes, who, "rollback", namespace, message, trailers, kwargs)

    # ---- helpers --------------------------------------------------------------------

    def _commit(
        self,
        writes: list[FileWrite],
        who: Requester,
        operation: str,
        namespace: str,
        message: str,
        trailers: dict[str, str],
        kwargs: dict[str, Any],
    ) -> WriteResult:
        """Commit a revert's or a rollback's files (the caller's message and trailers win)."""
        message = kwargs.pop("message", None) or message
        trailers = {
            TRAILER_OPERATION: operation,
            "Gitplane-Namespace": namespace,
            **trailers,
            **(kwargs.pop("trailers", None) or {}),
        }
        return self.rendered.git.apply(writes, who, message=message, trailers=trailers, **kwargs)

    def _results(self, namespace: str | None) -> list[RenderResult]:
        results = self.rendered.results()
        if namespace is None:
            return results
        tip = self.rendered.current
        sources = (
            {r.source for k, r in tip.desired.objects.items() if k.namespace == namespace}
            if tip
            else set()
        )
        return [r for r in results if r.source.destination == namespace or r.source.ref in sources]

    def _reads(self, namespace: str | None) -> list[str]:
        reads = [read for result in self._results(namespace) for read in result.reads]
        tip = self.rendered.current
        if tip is not None:  # sources' own manifests, served from their files
            reads += [
                r.files[0]
                for k, r in tip.desired.objects.items()
                if r.source.kind == "File" and (namespace is None or k.namespace == namespace)
            ]
        return sorted(set(reads))

    def _refuse_shared(self, paths: list[str], namespace: str, what: str) -> None:
        others: dict[str, set[str]] = {}
        for result in self.rendered.results():
            destination = result.source.destination
            if not destination or destination == namespace:
                continue
            for path in paths:
                if any(_reads(read, {path}) for read in result.reads):
                    others.setdefault(path, set()).add(destination)
        if others:
            shared = "; ".join(
                f"{p} (also {', '.join(sorted(n))})" for p, n in sorted(others.items())
            )
            raise Invalid(
                f"cannot {what} in namespace {namespace!r} only: other namespaces render the same"
                f" files: {shared}; change the overlay of {namespace} in Git instead",
                [FieldCause("spec.revision", f"Invalid value: shared files: {shared}")],
            )

    def _changed_paths(self, repo: pygit2.Repository, commit_id: str) -> frozenset[str]:
        with self._lock:
            found = self._changed.get(commit_id)
        if found is not None:
            return found
        commit = repo[commit_id].peel(pygit2.Commit)
        parent = commit.parents[0].tree if commit.parents else None
        diff = (
            parent.diff_to_tree(commit.tree)
            if parent is not None
            else commit.tree.diff_to_tree(swap=True)
        )
        found = frozenset(p for d in diff.deltas for p in (d.old_file.path, d.new_file.path) if p)
        with self._lock:
            self._changed[commit_id] = found
            if len(self._changed) > 100_000:
                self._changed.popitem(last=False)
        return found

    def _listed_changes(self, namespace: str | None, changed: frozenset[str]) -> list[ObjectChange]:
        """The objects of the namespace made from a file the commit changed (as they are
        rendered now: an object the commit added or removed shows in the revision)."""
        tip = self.rendered.current
        if tip is None:
            return []
        return [
            ObjectChange("MODIFIED", key)
            for key, rendered in sorted(tip.desired.objects.items())
            if (namespace is None or key.namespace == namespace) and set(rendered.files) & changed
        ]

    def _rendered_pair(
        self, commit_id: str, namespace: str | None, *, with_paths: bool = False
    ) -> tuple[dict[ObjectKey, Any], dict[ObjectKey, Any]]:
        repo = self.rendered.git._repo()
        commit = repo[commit_id].peel(pygit2.Commit)
        parent = str(commit.parents[0].id) if commit.parents else None
        sides = []
        for side in (parent, commit_id):
            state = self._desired_at(side)
            sides.append(
                {
                    k: ((r.obj, r.path) if with_paths else r.obj)
                    for k, r in state.objects.items()
                    if namespace is None or k.namespace == namespace
                }
            )
        return sides[0], sides[1]

    def _desired_at(self, commit_id: str | None) -> DesiredState:
        with self._lock:
            found = self._states.get(commit_id)
        if found is not None:
            return found
        if commit_id is None:
            return DesiredState(None)
        view = self.rendered.git.view(commit_id)
        documents = [
            (e.path, e.obj) for entries in view.snapshot.declarations.values() for e in entries
        ]
        state = self.rendered.engine.desired(commit_id, documents)
        with self._lock:
            self._states[commit_id] = state
            if len(self._states) > 16:
                self._states.popitem(last=False)
        return state


def _reads(read: str, changed: set[str] | frozenset[str]) -> bool:
    return any(not read or path == read or path.startswith(read + "/") for path in changed)


def _blob(tree: pygit2.Tree | None, path: str) -> str | None:
    if tree is None:
        return None
    try:
        entry = tree[path]
    except KeyError:
        return None
    return str(entry.id) if entry.type_str == "blob" else None


def _files(tree: pygit2.Tree | None, prefix: str = "") -> list[str]:
    if tree is None:
        return []
    found: list[str] = []
    for entry in tree:
        path = f"{prefix}{entry.name}"
        if entry.type_str == "tree":
            found += _files(entry, f"{path}/")  # type: ignore[arg-type]
        elif entry.type_str == "blob":
            found.append(path)
    return found
