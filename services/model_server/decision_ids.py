"""Decision ids: UUIDv7 (RFC 9562), time-ordered to the millisecond, random below."""

from __future__ import annotations

import os
import time
import uuid


def new_decision_id() -> str:
    """A fresh UUIDv7 string; ids sort by creation time across replicas."""
    millis = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10), "big")
    value = (millis & (1 << 48) - 1) << 80
    value |= 0x7 << 76  # version
    value |= (random >> 62 & 0xFFF) << 64  # rand_a
    value |= 0b10 << 62  # variant
    value |= random & (1 << 62) - 1  # rand_b
    return str(uuid.UUID(int=value))


def canary_bucket(decision_id: str) -> int:
    """A number 0-99 fixed by the id's random bits: the canary takes ids below its percent."""
    return int(decision_id.replace("-", "")[-8:], 16) % 100
