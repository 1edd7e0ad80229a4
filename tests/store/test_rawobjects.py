"""Git objects and packs made in Python (store.rawobjects, store.packs.write_pack_files),
each checked against what the git CLI makes of the same input."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from pathlib import Path

import pygit2
import pytest

from store import packformat, packs
from store.errors import Invalid
from store.rawobjects import (
    BLOB,
    TREE,
    TREE_MODE,
    check_entry_name,
    object_id,
    tree_data,
    tree_entries,
)
from store.staging import open_staging
from store.trees import write_tree
from tests.store.conftest import init_bare, pack_objects, run_git

EXECUTABLE = pygit2.GIT_FILEMODE_BLOB_EXECUTABLE


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    return init_bare(tmp_path / "repo.git")


def hash_object(repo: Path, kind: str, data: bytes) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "hash-object", "-t", kind, "-w", "--stdin"],
        input=data, capture_output=True, check=True,
    ).stdout.decode().strip()  # fmt: skip


def mktree(repo: Path, lines: list[str]) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "mktree"],
        input="".join(f"{line}\n" for line in lines).encode(), capture_output=True, check=True,
    ).stdout.decode().strip()  # fmt: skip


def test_object_ids_are_the_ids_git_gives(bare: Path) -> None:
    for data in (b"", b"kind: ConfigMap\n", "名前: ü\n".encode(), bytes(range(256)) * 40):
        assert str(object_id(BLOB, data)) == hash_object(bare, "blob", data)


def test_trees_are_laid_out_in_gits_order(bare: Path) -> None:
    """A directory sorts as if its name ended in '/': `a` (a tree) after `a-b` and
    `a.txt`, before `a0`; git mktree sorts its input the same way."""
    blob = hash_object(bare, "blob", b"x\n")
    inner = mktree(bare, [f"100644 blob {blob}\tf.yaml"])
    names = {"a0": "file", "a": "tree", "a.txt": "file", "a-b": "exec", "Z": "file"}
    entries = {}
    lines = []
    for name, what in names.items():
        mode, kind, oid = {
            "file": (0o100644, "blob", blob),
            "exec": (EXECUTABLE, "blob", blob),
            "tree": (TREE_MODE, "tree", inner),
        }[what]
        entries[name.encode()] = (mode, bytes.fromhex(oid))
        lines.append(f"{mode:06o} {kind} {oid}\t{name}")
    data = tree_data(entries)
    assert str(object_id(TREE, data)) == mktree(bare, lines)
    assert tree_entries(data) == entries
    listed = run_git(bare, "ls-tree", "--name-only", str(object_id(TREE, data)))
    assert listed.split() == ["Z", "a-b", "a.txt", "a", "a0"]


def test_a_tree_written_in_a_staging_handle_keeps_modes_and_drops_empty_directories(
    bare: Path,
) -> None:
    """An executable's new content stays executable; a directory whose last file is
    removed goes; the objects are staged, not on disk, until packed."""
    blob = hash_object(bare, "blob", b"old\n")
    shop = mktree(bare, [f"100644 blob {blob}\tweb.yaml"])
    base_id = mktree(bare, [f"100755 blob {blob}\trun.sh", f"040000 tree {shop}\tshop"])
    repo, staged = open_staging(bare)
    new_blob = repo.put(BLOB, b"new\n")
    made, empty = write_tree(
        repo,
        repo[base_id],
        {"run.sh": new_blob, "shop/web.yaml": None, "team/app.yaml": new_blob},
        {},
    )
    assert not empty and pygit2.Oid(hex=made) in staged.objects
    assert not (bare / "objects" / made[:2]).exists()
    files = packs.write_pack(repo, list(staged.objects), packs.pack_directory(repo), count=False)
    assert files.pack.exists() and files.index.exists()
    listing = run_git(bare, "ls-tree", "-r", made).splitlines()
    assert listing == [
        f"100755 blob {new_blob}\trun.sh",
        f"100644 blob {new_blob}\tteam/app.yaml",
    ]
    run_git(bare, "fsck", "--strict", "--no-dangling", made)


@pytest.mark.parametrize("path", ["evil/planted.yaml", "evil", "vendor/x.yaml", "vendor"])
def test_a_tree_is_never_written_through_or_over_a_link_or_a_submodule(
    bare: Path, path: str
) -> None:
    """Planning refuses such paths first (Layout.check_new_file); the tree builder
    refuses them too, rather than turn a link into a directory or a file in passing."""
    link = hash_object(bare, "blob", b"/somewhere/else")
    commit = run_git(bare, "commit-tree", "-m", "x", mktree(bare, [])).strip()
    base_id = mktree(bare, [f"120000 blob {link}\tevil", f"160000 commit {commit}\tvendor"])
    repo, _ = open_staging(bare)
    with pytest.raises(Invalid, match=r"is a (symbolic link|submodule) in the tree"):
        write_tree(repo, repo[base_id], {path: repo.put(BLOB, b"x: 1\n")}, {})


@pytest.mark.parametrize("name", [b"", b".", b"..", b".git", b".GIT", b"a/b", b"a\0b"])
def test_names_git_refuses_are_refused(name: bytes) -> None:
    with pytest.raises(Invalid):
        check_entry_name(name)


def test_a_pack_and_its_index_are_what_git_makes_of_them(bare: Path) -> None:
    """git index-pack, reading the pack alone, writes the same index byte for byte;
    verify-pack checks every object against its id."""
    objects = [
        (object_id(BLOB, data), BLOB, data)
        for data in (b"a\n", b"b" * 70_000, bytes(range(256)) * 300, b"")
    ]
    tree = tree_data({b"x": (0o100644, objects[0][0].raw)})
    objects.append((object_id(TREE, tree), TREE, tree))
    target = bare / "objects" / "pack"
    files = packformat.write_pack_files(objects, target)
    assert files.pack.name == f"pack-{files.pack.read_bytes()[-20:].hex()}.pack"
    assert sorted(p.name for p in target.iterdir()) == [files.index.name, files.pack.name]
    rebuilt = bare / "rebuilt.idx"
    run_git(bare, "index-pack", "-o", str(rebuilt), str(files.pack))
    assert rebuilt.read_bytes() == files.index.read_bytes()
    run_git(bare, "verify-pack", str(files.index))
    for oid, _, data in objects:
        assert pygit2.Repository(str(bare)).odb.read(oid)[1] == data


def test_offsets_past_the_small_table_go_to_the_large_one(bare: Path) -> None:
    """Offsets of 2 GiB and more take an 8-byte table; git index-pack puts offsets
    above a limit it is given there too, so both indexes can be compared."""
    objects = [(object_id(BLOB, d), BLOB, d) for d in (b"one\n", b"two\n", b"three\n")]
    files = packformat.write_pack_files(objects, bare / "objects" / "pack")
    records = packformat.read_index(files.index.read_bytes())
    pack_hash = files.pack.read_bytes()[-20:]
    first_offset = 12  # after the pack header
    made = packformat._pack_index(sorted(records), pack_hash, large_from=first_offset + 1)
    rebuilt = bare / "large.idx"
    run_git(
        bare, "index-pack", f"--index-version=2,{first_offset}", "-o", str(rebuilt),
        str(files.pack),
    )  # fmt: skip
    assert made == rebuilt.read_bytes()
    assert made != files.index.read_bytes()


def git_pack_with_deltas(repo: Path) -> Path:
    """A pack git writes of similar blobs: later ones stored as deltas."""
    text = "".join(f"line {n}\n" for n in range(400))
    ids = [hash_object(repo, "blob", (text + f"version {v}\n").encode()) for v in range(4)]
    name = pack_objects(repo, ids, repo)
    index = repo / "objects" / "pack" / f"pack-{name}.idx"
    assert has_deltas(repo, index)
    run_git(repo, "prune-packed")
    return index


def has_deltas(repo: Path, index: Path) -> bool:
    """Whether git verify-pack counts objects stored as deltas (by chain length)."""
    return bool(
        re.search(r"^chain length = \d+:", run_git(repo, "verify-pack", "-v", str(index)), re.M)
    )


def test_small_packs_are_joined_into_one_and_gits_delta_packs_are_left(
    bare: Path,
) -> None:
    directory = bare / "objects" / "pack"
    datas = [b"shared\n", b"one\n", b"two\n", b"three\n"]
    written = [
        packformat.write_pack_files(
            [(object_id(BLOB, d), BLOB, d) for d in (datas[0], datas[n])], directory
        )
        for n in (1, 2, 3)
    ]  # the first object is in all three
    delta_index = git_pack_with_deltas(bare)
    joined = packs.join_small_packs(directory)
    assert joined is not None
    assert sorted(directory.glob("*.idx")) == sorted([joined.index, delta_index])
    assert not any(files.pack.exists() or files.index.exists() for files in written)
    listed = run_git(bare, "verify-pack", "-v", str(joined.index)).splitlines()
    in_pack = [line.split()[0] for line in listed if re.match(r"[0-9a-f]{40} ", line)]
    assert sorted(in_pack) == sorted(str(object_id(BLOB, d)) for d in datas)  # each once
    assert not has_deltas(bare, joined.index)
    rebuilt = bare / "rebuilt.idx"
    run_git(bare, "index-pack", "-o", str(rebuilt), str(joined.pack))
    assert rebuilt.read_bytes() == joined.index.read_bytes()
    odb = pygit2.Repository(str(bare)).odb
    assert [odb.read(object_id(BLOB, d))[1] for d in datas] == datas
    assert packs.join_small_packs(directory) is None  # one pack of ours: nothing to join


def test_a_pack_grown_big_waits_until_the_small_ones_are_half_its_size(
    bare: Path,
) -> None:
    directory = bare / "objects" / "pack"
    noise = random.Random(7).randbytes(256 << 10)  # zlib leaves it near its size
    big = packformat.write_pack_files([(object_id(BLOB, noise), BLOB, noise)], directory)
    small = [
        packformat.write_pack_files([(object_id(BLOB, d), BLOB, d)], directory)
        for d in (b"a\n", b"b\n")
    ]
    joined = packs.join_small_packs(directory)
    assert joined is not None and big.index.exists() and not small[0].index.exists()
    assert packs.join_small_packs(directory) is None


def test_now_and_then_git_rolls_the_joined_packs_up_with_deltas(bare: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    directory = bare / "objects" / "pack"
    text = "".join(f"line {n}\n" for n in range(400)).encode()
    versions = [text + b"version %d\n" % v for v in range(6)]  # ~1.3 kB each, compressed
    for data in versions[:3]:
        packformat.write_pack_files([(object_id(BLOB, data), BLOB, data)], directory)
    maintenance = packs.PackMaintenance(repack_every=2)
    maintenance._roll_up(directory)  # the first: joined, every object whole
    [index] = directory.glob("*.idx")
    assert not has_deltas(bare, index)
    for data in versions[3:]:
        packformat.write_pack_files([(object_id(BLOB, data), BLOB, data)], directory)
    maintenance._roll_up(directory)  # the second: joined, then git's repack
    [index] = directory.glob("*.idx")
    assert has_deltas(bare, index)
    odb = pygit2.Repository(str(bare)).odb
    assert [odb.read(object_id(BLOB, d))[1] for d in versions] == versions
    run_git(bare, "fsck", "--strict")
