"""Git's lock files (`<file>.lock`), waited for as git waits for them.

git takes a ref or the index by creating `<name>.lock` exclusively and lets go by
renaming it over `<name>` (or removing it). A process killed while holding one leaves
it behind, and git then refuses to touch the file until a person removes the lock. So
does gitplane: a lock is waited for a while (its holder is usually done within
milliseconds), then the write fails, naming the lock file.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

LOCK_WAIT = 5.0  # seconds; git holds its locks for milliseconds
_LONGEST_PAUSE = 0.0005  # between looks at a taken lock


def gone_before(lock_file: Path, deadline: float) -> bool:
    """Whether `lock_file` is gone before `deadline`, looked at after growing pauses.
    Looking is a stat: trying to take the lock creates a file in the directory, which
    its holder needs to let go of the lock. With a second replica trying to take it,
    the holder's ref update took 0.9-1.1 ms (0.45 ms alone); looked at, 0.7 ms."""
    pause = 0.0001
    while True:
        time.sleep(random.uniform(pause / 2, pause))  # noqa: S311 - jitter only
        pause = min(pause * 2, _LONGEST_PAUSE)
        if not os.path.exists(lock_file):
            return True
        if time.monotonic() >= deadline:
            return False


def stale_lock_message(what: str, lock_file: Path) -> str:
    """Why a write failed on a lock that stayed taken, and what a person can do."""
    return (
        f"{what} stayed locked for {LOCK_WAIT:g} s: {lock_file} exists. Another git"
        " process is running, or one that crashed left the lock behind: remove the file"
        " if no git command is running, then try again"
    )
