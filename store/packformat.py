"""The pack format: a pack of whole objects and its version 2 index, written, read back
and joined, as git lays them out (gitformat-pack(5))."""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2

# (raw id, the entry as it is in the pack, its CRC-32)
Record = tuple[bytes, bytes, int]


@dataclass(frozen=True)
class PackFiles:
    """A pack and its index, which git names alike (pack-<hash>.pack, pack-<hash>.idx)."""

    pack: Path
    index: Path

    @classmethod
    def named(cls, directory: Path, name: str) -> PackFiles:
        """The pack `name` (`pack-<hash>`) in `directory`."""
        return cls(directory / f"{name}.pack", directory / f"{name}.idx")


def write_pack_files(
    objects: Sequence[tuple[pygit2.Oid, int, bytes]], directory: Path
) -> PackFiles:
    """A pack of `objects` (id, kind, content) and its index (version 2), as git lays
    them out, each object whole (no deltas: a push's few objects rarely have a base
    among themselves; roll-ups find deltas). Written under temporary names and renamed,
    the index last: a reader never finds an index without its whole pack.

    Written in Python: libgit2's pack builder looked for each object in every pack and
    indexed the pack it wrote by reading it back, 1-3 ms for a write's four objects."""
    records: list[Record] = []
    for oid, kind, data in objects:
        record = _object_header(kind, len(data)) + zlib.compress(data)
        records.append((oid.raw, record, zlib.crc32(record)))
    return write_records(records, directory)


def write_records(records: Sequence[Record], directory: Path) -> PackFiles:
    """A pack of `records` (raw id, the entry as it is in a pack, its CRC-32) and its
    index, written under temporary names and renamed, the index last."""
    pack = bytearray(b"PACK" + struct.pack(">II", 2, len(records)))
    placed: list[tuple[bytes, int, int]] = []  # raw id, offset, CRC-32
    for raw, record, crc in records:
        placed.append((raw, len(pack), crc))
        pack += record
    pack_hash = hashlib.sha1(pack).digest()  # noqa: S324 - git names packs so
    pack += pack_hash
    index = _pack_index(sorted(placed), pack_hash)
    files = PackFiles.named(directory, f"pack-{pack_hash.hex()}")
    for content, final in ((bytes(pack), files.pack), (index, files.index)):
        temporary = directory / f"tmp_{final.name}"
        temporary.write_bytes(content)
        os.replace(temporary, final)
    return files


def _object_header(kind: int, size: int) -> bytes:
    """The kind and size of a pack entry: 3 bits and 4 bits, then 7 bits per byte."""
    header = bytearray()
    byte, size = (kind << 4) | (size & 0x0F), size >> 4
    while size:
        header.append(byte | 0x80)
        byte, size = size & 0x7F, size >> 7
    header.append(byte)
    return bytes(header)


def _pack_index(
    records: list[tuple[bytes, int, int]], pack_hash: bytes, large_from: int = 1 << 31
) -> bytes:
    """A version 2 pack index of `records` sorted by id: fan-out table, ids, CRC-32s,
    offsets (past 2 GiB, in a table of 8-byte offsets), pack and index checksums."""
    fanout = [0] * 256
    for raw, _, _ in records:
        fanout[raw[0]] += 1
    for first in range(1, 256):
        fanout[first] += fanout[first - 1]
    small: list[int] = []
    large: list[int] = []
    for _, offset, _ in records:
        if offset < large_from:
            small.append(offset)
        else:
            small.append(0x80000000 | len(large))
            large.append(offset)
    index = bytearray(b"\377tOc" + struct.pack(">I", 2))
    index += struct.pack(">256I", *fanout)
    index += b"".join(raw for raw, _, _ in records)
    index += struct.pack(f">{len(records)}I", *(crc for _, _, crc in records))
    index += struct.pack(f">{len(small)}I", *small)
    index += struct.pack(f">{len(large)}Q", *large)
    index += pack_hash
    index += hashlib.sha1(index).digest()  # noqa: S324
    return bytes(index)


# Entry kinds 6 and 7 are deltas, read against another entry: not taken apart here.
_WHOLE_KINDS = frozenset({1, 2, 3, 4})


def read_index(index: bytes) -> list[tuple[bytes, int, int]]:
    """(raw id, offset, CRC-32) of each object of a version 2 pack index."""
    if index[:8] != b"\377tOc\0\0\0\2":
        raise ValueError("not a version 2 pack index")
    count = struct.unpack_from(">I", index, 8 + 255 * 4)[0]
    ids_at = 8 + 256 * 4
    crcs_at = ids_at + 20 * count
    offsets_at = crcs_at + 4 * count
    large_at = offsets_at + 4 * count
    crcs = struct.unpack_from(f">{count}I", index, crcs_at)
    offsets = list(struct.unpack_from(f">{count}I", index, offsets_at))
    for n, offset in enumerate(offsets):
        if offset & 0x80000000:
            offsets[n] = struct.unpack_from(">Q", index, large_at + 8 * (offset & 0x7FFFFFFF))[0]
    return [
        (index[ids_at + 20 * n : ids_at + 20 * n + 20], offsets[n], crcs[n]) for n in range(count)
    ]


def whole_object_records(files: PackFiles) -> list[Record] | None:
    """The entries of a pack whose every object is whole (as gitplane writes them), in
    pack order; None for a pack with deltas (git's). OSError: the pack is gone."""
    entries = sorted(read_index(files.index.read_bytes()), key=lambda entry: entry[1])
    pack = files.pack.read_bytes()
    ends = [offset for _, offset, _ in entries[1:]] + [len(pack) - 20]
    records = []
    for (raw, offset, crc), end in zip(entries, ends, strict=True):
        if (pack[offset] >> 4) & 7 not in _WHOLE_KINDS:
            return None
        records.append((raw, pack[offset:end], crc))
    return records
