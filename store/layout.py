"""Where objects live in the tree: the root, namespace directories, new files' names."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from store.errors import FieldCause, Invalid
from store.keys import DNS1123_LABEL, ObjectKey
from store.rawobjects import mode_name

OBJECT_FILE_SUFFIXES = (".yaml", ".yml", ".json")
# Files that hold kustomize or Helm configuration rather than Kubernetes objects.
NON_OBJECT_FILE_NAMES = frozenset(
    {"kustomization.yaml", "kustomization.yml", "Kustomization", "Chart.yaml", "values.yaml"}
)
_UNSAFE_FILENAME_CHARS = re.compile(r"[^a-z0-9.-]")
NAME_MAX = 255  # bytes in one file name (a path component) on Linux and macOS file systems


@dataclass(frozen=True)
class Layout:
    """How desired state maps onto paths below `root` in the repository."""

    root: str = ""
    cluster_dir: str = "_cluster"
    # Placeholders: {kind} (lowercased), {name}, {namespace}, {group}.
    filename: str = "{kind}-{name}.yaml"

    def __post_init__(self) -> None:
        root = self.root.strip("/")
        if root and not is_safe_relative_path(root):
            raise ValueError(
                f"layout root must be a relative path inside the repository: {self.root!r}"
            )
        object.__setattr__(self, "root", root)

    def under_root(self, path: str) -> str | None:
        """The part of `path` below the root, or None when the path is outside it."""
        if not self.root:
            return path
        prefix = self.root + "/"
        return path[len(prefix) :] if path.startswith(prefix) else None

    def directory_namespace(self, path: str) -> str | None:
        """The namespace a file's directory implies ("" for the cluster directory)."""
        rel = self.under_root(path)
        if rel is None or "/" not in rel:
            return None
        top = rel.split("/", 1)[0]
        if top == self.cluster_dir:
            return ""
        return top if DNS1123_LABEL.match(top) else None

    def holds_objects(self, path: str) -> bool:
        rel = self.under_root(path)
        if rel is None:
            return False
        base = posixpath.basename(path)
        return base.endswith(OBJECT_FILE_SUFFIXES) and base not in NON_OBJECT_FILE_NAMES

    def path_for(self, key: ObjectKey) -> str:
        """Path for a new object's file; never outside the root, whatever the name holds."""
        directory = key.namespace or self.cluster_dir
        filename = self.filename.format(
            kind=key.kind.lower(),
            name=_UNSAFE_FILENAME_CHARS.sub("_", key.name),
            namespace=key.namespace,
            group=key.group,
        )
        path = (
            posixpath.join(self.root, directory, filename)
            if self.root
            else f"{directory}/{filename}"
        )
        if not is_safe_relative_path(path) or self.under_root(path) is None:
            raise Invalid(
                f"{key} would be written outside the repository root",
                [FieldCause("metadata.name", f"Invalid value: {key.name!r}: unsafe path")],
            )
        if problems := path_problems(path):
            raise Invalid(
                f"{key} cannot be written to {path!r}",
                [
                    FieldCause("metadata.name", f"Invalid value: {key.name!r}: {p}")
                    for p in problems
                ],
            )
        return path

    def check_new_file(self, key: ObjectKey, path: str, blocked: tuple[str, int] | None) -> None:
        """Refuse `path` for a new object's file when no file can be there: below no root,
        a name no file system takes, or `blocked` (the component of the path that is not
        a directory or a regular file in the tree, and its mode, from
        gitobjects.blocked_at). A symbolic link is never written through or to (with a
        link `evil -> /elsewhere`, a write to `evil/` landed outside the repository), a
        submodule never written into."""
        if self.under_root(path) is None or not self.holds_objects(path):
            raise Invalid(f"{key}: path {path!r} is not below the repository root")
        problems = path_problems(path)
        if blocked is not None:
            problems.append(
                f"{blocked[0]!r} is {mode_name(blocked[1])} in the repository; gitplane"
                " writes regular files only, never through or over a link or a submodule"
            )
        if problems:
            field, value = (
                ("metadata.namespace", key.namespace)
                if blocked is not None and blocked[0] == self.namespace_dir(key.namespace)
                else ("metadata.name", key.name)
            )
            raise Invalid(
                f"{key} cannot be written to {path!r}",
                [FieldCause(field, f"Invalid value: {value!r}: {p}") for p in problems],
            )

    def namespace_dir(self, namespace: str) -> str:
        directory = namespace or self.cluster_dir
        return f"{self.root}/{directory}" if self.root else directory


def path_problems(path: str) -> list[str]:
    """Why no file can be at `path` in the repository and in a checkout of it (empty when
    one can): a path outside the repository, or a component git refuses in a tree or no
    file system takes. A commit naming such a file is made, and then `git checkout` (and
    gitplane's own update of a checkout) cannot write it."""
    if not is_safe_relative_path(path):
        return [f"{path!r} is not a relative path inside the repository"]
    problems = []
    for part in path.split("/"):
        size = len(part.encode("utf-8", "surrogatepass"))
        if size > NAME_MAX:
            problems.append(
                f"the file name {part!r} would be {size} bytes long; a file name has at most"
                f" {NAME_MAX} (make the name shorter)"
            )
        elif part.lower() == ".git" or any(0xD800 <= ord(c) <= 0xDFFF for c in part):
            problems.append(f"{part!r} cannot be a file name in Git")
    return problems


def is_safe_relative_path(path: str) -> bool:
    """A path that stays inside the repository: relative, normalized, no `..`, no `.git`."""
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        return False
    parts = path.split("/")
    return all(p not in ("", ".", "..") and p != ".git" for p in parts)
