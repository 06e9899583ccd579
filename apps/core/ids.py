"""`uuid4()`: what `uuid.uuid4()` returns (a random version 4, RFC 4122 variant UUID from 16 bytes of
`os.urandom`), built without `UUID.__init__`'s keyword handling and checks (~13 k instructions an id under
callgrind, against ~6 k here; two ids a task run set_state, its state's and its decision's).

`uuid.uuid4()` is `UUID(bytes=os.urandom(16), version=4)`: the bytes read as a big-endian int, its variant bits
(62 and 63) set to 10, its version nibble (bits 76 to 79) to 4, and `is_safe` left `SafeUUID.unknown`. The same
steps here, the instance's two slots set as `UUID.__init__` and `UUID.__setstate__` set them (`object.__setattr__`,
`UUID.__setattr__` refusing any assignment): the same object for the same bytes (tests/core/test_ids.py)."""

from __future__ import annotations

import os
from uuid import UUID, SafeUUID

_new = object.__new__
_set = object.__setattr__
_random = os.urandom
_from_bytes = int.from_bytes
_UNKNOWN = SafeUUID.unknown
# UUID.__init__'s version step: the variant's two bits and the version's four cleared, then 0b10 and 4 set
_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_VERSION_4 = (0x8000 << 48) | (4 << 76)


def uuid4() -> UUID:
    """A random UUID, as `uuid.uuid4()`."""
    value = _new(UUID)
    _set(value, "int", _from_bytes(_random(16)) & _CLEAR | _VERSION_4)
    _set(value, "is_safe", _UNKNOWN)
    return value
