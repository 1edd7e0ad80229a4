"""A two-level map whose copies share inner maps until one side writes (copy on write).

Snapshots of 10,000 objects are published after every commit; copying a flat map of
that size each time would cost milliseconds, copying the outer level (one entry per
namespace or directory) costs microseconds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

O = TypeVar("O")  # noqa: E741 - outer key
K = TypeVar("K")
V = TypeVar("V")


class TwoLevel(Generic[O, K, V]):
    __slots__ = ("_maps", "_owned")

    def __init__(self, maps: dict[O, dict[K, V]] | None = None) -> None:
        self._maps: dict[O, dict[K, V]] = maps if maps is not None else {}
        self._owned: set[O] = set()  # inner maps this instance may change in place

    def get(self, outer: O, key: K) -> V | None:
        inner = self._maps.get(outer)
        return inner.get(key) if inner is not None else None

    def inner(self, outer: O) -> Mapping[K, V]:
        inner = self._maps.get(outer)
        return inner if inner is not None else {}

    def outer_keys(self) -> Iterator[O]:
        return iter(self._maps)

    def values(self) -> Iterator[V]:
        for inner in self._maps.values():
            yield from inner.values()

    def items(self) -> Iterator[tuple[K, V]]:
        for inner in self._maps.values():
            yield from inner.items()

    def __len__(self) -> int:
        return sum(len(inner) for inner in self._maps.values())

    def set(self, outer: O, key: K, value: V) -> None:
        self._writable(outer)[key] = value

    def pop(self, outer: O, key: K) -> None:
        if key not in self._maps.get(outer, {}):
            return
        inner = self._writable(outer)
        del inner[key]
        if not inner:
            del self._maps[outer]
            self._owned.discard(outer)

    def copy(self) -> TwoLevel[O, K, V]:
        """A copy sharing every inner map; from now on both copy an inner map before writing."""
        self._owned = set()
        return TwoLevel(dict(self._maps))

    def _writable(self, outer: O) -> dict[K, V]:
        if outer not in self._owned:
            self._maps[outer] = dict(self._maps.get(outer, {}))
            self._owned.add(outer)
        return self._maps[outer]
