"""Interim desired-state source for `python -m webhook --desired-dir DIR`.

Reads every *.yaml / *.yml file under DIR (multi-document files and `kind: List`
included) into an InMemoryDesiredState, once, at start-up, with the store's own parser
(the loader every reader uses), so it sees each document as the API server does.
Objects without metadata.namespace are taken as cluster-scoped.
"""

from __future__ import annotations

from pathlib import Path

from store.documents import parse_file
from webhook.desired import InMemoryDesiredState


def load_desired_dir(root: Path, revision: str = "working-tree") -> InMemoryDesiredState:
    """Every object the directory declares; ValueError names the first document that is
    not one (file and line)."""
    state = InMemoryDesiredState()
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml")):
        if path.is_symlink() or not path.is_file():
            continue  # a link may point anywhere: never followed
        relative = path.relative_to(root).as_posix()
        parsed = parse_file(relative, path.read_bytes(), "")
        if parsed.problems:
            raise ValueError(str(parsed.problems[0]))
        for declaration in parsed.declarations:
            state.put(declaration.obj, relative, revision)
    return state
