"""Deterministic randomness and identifiers.

* ``stream_seed(seed, index, stream)`` gives every patient its own independent random streams, derived only from
  the run's seed and the patient's index, so a patient's data never depends on how patients are sharded.
* ``IdFactory`` hands out UUID-shaped ids (version-4 layout) that are a *bijection* of
  ``(kind, owner index, counter)`` under a key derived from the seed: they look random, differ between seeds, and
  are unique by construction (no birthday collisions, whatever the cohort size).
"""

from __future__ import annotations

import hashlib

KIND_PATIENT = 1  # ids of a patient and of everything recorded about them
KIND_PRACTITIONER = 2
KIND_ORGANIZATION = 3

_BITS = 122  # a version-4 UUID carries 122 free bits
_MASK = (1 << _BITS) - 1
_LOW120 = (1 << 120) - 1
# Odd multipliers are invertible modulo 2**122; xor-shifts by at least half the width are invertible too.
_MUL1 = 0x2F0E1EBA9EA36A3B8B3B8CA7D1E2F4C5 & _MASK | 1
_MUL2 = 0x1C69B3F74AC4AE35C2B2AE3D27D4EB4F & _MASK | 1
_VARIANT = "89ab"
_MAX_INDEX = 1 << 44
_MAX_COUNTER = 1 << 32


def stream_seed(seed: int, index: int, stream: int) -> int:
    """A 128-bit seed for random stream ``stream`` of owner ``index`` in a run seeded with ``seed``."""
    digest = hashlib.blake2b(f"{seed}/{index}/{stream}".encode(), digest_size=16, person=b"ha-synthetic").digest()
    return int.from_bytes(digest, "big")


def _key(seed: int, label: str) -> int:
    digest = hashlib.blake2b(f"{seed}/{label}".encode(), digest_size=16, person=b"ha-synth-ids").digest()
    return int.from_bytes(digest, "big") & _MASK


class IdFactory:
    """Ids for one owner (a patient, or the shared practitioner/organization pools), in the order asked for."""

    __slots__ = ("_add", "_xor", "_base", "_n")

    def __init__(self, seed: int, kind: int, index: int):
        if not 0 <= index < _MAX_INDEX:
            raise ValueError(f"owner index out of range: {index}")
        self._add = _key(seed, "add")
        self._xor = _key(seed, "xor")
        self._base = (kind << 76) | (index << 32)
        self._n = 0

    def next(self) -> str:
        n = self._n
        if n >= _MAX_COUNTER:
            raise OverflowError("too many ids for one owner")
        self._n = n + 1
        x = ((self._base | n) + self._add) & _MASK
        x = (x * _MUL1) & _MASK
        x ^= x >> 61
        x ^= self._xor
        x = (x * _MUL2) & _MASK
        x ^= x >> 63
        h = f"{x & _LOW120:030x}"
        return f"{h[:8]}-{h[8:12]}-4{h[12:15]}-{_VARIANT[x >> 120]}{h[15:18]}-{h[18:]}"
