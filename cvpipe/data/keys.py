"""Membership of many string keys in bounded memory (:class:`KeySet`): what a streaming
driver uses to find images listed twice without holding every path."""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["KeySet"]


class KeySet:
    """A set of string keys with an ordinal each (image paths seen so far, and where), in
    little memory: each key as two 64-bit hashes plus its ordinal (24 bytes a key, in a few
    sorted numpy arrays merged like a log-structured tree), not the key itself. A hit needs
    both hashes equal (a false one is a 2**-128 event)."""

    def __init__(self) -> None:
        self.levels: list[tuple[Any, Any, Any]] = []  # (h1 sorted, h2, ordinal), large to small

    @staticmethod
    def hashes(keys: Sequence[str]):
        """``(h1, h2)``: two uint64 arrays, the halves of each key's blake2b-128."""
        import hashlib

        import numpy as np

        raw = b"".join(hashlib.blake2b(k.encode("utf-8", "surrogatepass"), digest_size=16).digest() for k in keys)
        both = np.frombuffer(raw, dtype=np.uint64).reshape(-1, 2) if keys else np.zeros((0, 2), np.uint64)
        return both[:, 0].copy(), both[:, 1].copy()

    def find(self, h1, h2):
        """The ordinal of the kept sample each key belongs to, -1 where none (int64 array)."""
        import numpy as np

        found = np.full(len(h1), -1, dtype=np.int64)
        for l1, l2, lref in self.levels:
            at = np.searchsorted(l1, h1)
            for k in np.flatnonzero((at < len(l1)) & (l1[np.minimum(at, len(l1) - 1)] == h1)).tolist():
                j = int(at[k])
                while j < len(l1) and l1[j] == h1[k]:
                    if l2[j] == h2[k] and found[k] < 0:
                        found[k] = lref[j]
                    j += 1
        return found

    def add(self, h1, h2, refs) -> None:
        """Remember keys (one part's, distinct); merge levels of similar size."""
        import numpy as np

        if not len(h1):
            return
        order = np.argsort(h1, kind="stable")
        self.levels.append((h1[order], h2[order], np.asarray(refs, dtype=np.int64)[order]))
        while len(self.levels) > 1 and len(self.levels[-2][0]) <= 2 * len(self.levels[-1][0]):
            (a1, a2, ar), (b1, b2, br) = self.levels.pop(-2), self.levels.pop()
            c1, c2, cr = np.concatenate([a1, b1]), np.concatenate([a2, b2]), np.concatenate([ar, br])
            order = np.argsort(c1, kind="stable")
            self.levels.append((c1[order], c2[order], cr[order]))
