"""A bounded, expiring memory of what one API process learnt lately (:mod:`api.owners`, :mod:`api.starting`)."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")


class Recent(Generic[V]):
    """Keys remembered with a value for ``ttl`` seconds, at most ``size`` of them (least recently used out first).

    Args:
        size: the most keys kept.
        ttl: seconds a key is kept after it was put.
    """

    def __init__(self, size: int, ttl: float) -> None:
        self._size, self._ttl = size, ttl
        self._known: OrderedDict[str, tuple[V, float]] = OrderedDict()

    def get(self, key: str) -> V | None:
        """The value put for ``key`` within the last ``ttl`` seconds, if any."""
        entry = self._known.get(key)
        if entry is None:
            return None
        value, put_at = entry
        if time.monotonic() - put_at > self._ttl:
            del self._known[key]
            return None
        self._known.move_to_end(key)
        return value

    def put(self, key: str, value: V) -> None:
        """Remembers ``value`` for ``key`` from now on."""
        self._known[key] = (value, time.monotonic())
        self._known.move_to_end(key)
        while len(self._known) > self._size:
            self._known.popitem(last=False)

    def forget(self, key: str) -> None:
        """Forgets ``key`` (nothing happens if it is not known)."""
        self._known.pop(key, None)
