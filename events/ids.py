"""Time-ordered event ids (UUID version 7, RFC 9562).

An event id is a unique key in the store's index. Random ids (version 4) land on random
leaves of that index, so a commit of n events dirties up to n index pages, each written to
the write-ahead log and again at the next checkpoint. A version 7 id begins with the
millisecond it was made, so ids made in order sit side by side in the index and a commit's
new ids share a page or two. The other 74 bits are random, so ids made in the same
millisecond, or by several processes, do not collide.

Measured on the SQLite store, 64 concurrent appenders (strace -c, bench.store's events):
155 page writes per commit with version 4 ids, 85 with version 7; kernel time per event
19.1/17.4/21.3 us against 10.9/13.5/13.5 us in three alternating pairs.
"""

from __future__ import annotations

import os
import time
import uuid

__all__ = ["new_event_id"]

_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0b10 << 62
_RAND_A = (1 << 12) - 1
_RAND_B = (1 << 62) - 1


_UUID = uuid.UUID
_new_uuid = object.__new__
_set = object.__setattr__
_UNKNOWN = uuid.SafeUUID.unknown


def new_event_id() -> uuid.UUID:
    """Return a new UUID version 7: 48 bits of Unix milliseconds, then 74 random bits.

    Built as UUID.__init__ would build it from int= (it sets the same two slots), without
    its argument checks: the value is made here, 128 bits with version and variant set.
    """
    millis = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10))
    rand_a = (random >> 62) & _RAND_A
    made = _new_uuid(_UUID)
    _set(
        made,
        "int",
        (millis << 80) | _VERSION_7 | (rand_a << 64) | _VARIANT_RFC | (random & _RAND_B),
    )
    _set(made, "is_safe", _UNKNOWN)
    return made
