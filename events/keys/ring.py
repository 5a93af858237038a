"""The key ring: make, fetch, cache and destroy data keys; seal and open values under them.

A subject's key has an id that grows by one each time a new key is made (after an erasure
destroyed the previous ones). A sealed value names the id of the key that sealed it, so a
destroyed key makes exactly the values it sealed unreadable.

Errors (see events.crypto):
    CryptoError
    └── KeyNotLoaded   a subject's keys were used before they were fetched
"""

from __future__ import annotations

import asyncio
import binascii
import os
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

from attrs import field, frozen
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from events.crypto import NONCE_BYTES, CryptoError, MasterKey, SealBroken, new_data_key, open_sealed
from events.keys.keystore import KeyStore, StoredKey, key_aad, unwrap_key

__all__ = ["CACHE_SUBJECTS", "RECENT_SEALS", "DataKey", "KeyNotLoaded", "KeyRing", "SubjectKeys"]

SEAL_FORMAT = 1
_HEADER = struct.Struct(">BI")  # format byte, key id
_BODY = _HEADER.size
_NONCE_END = _BODY + NONCE_BYTES
_key_id = _HEADER.unpack_from
_from_base64 = binascii.a2b_base64
_to_base64 = binascii.b2a_base64
_urandom = os.urandom
# Values this process sealed and has not opened since, kept so that folding a post into
# the read model moments after sealing it costs a lookup, not a decryption; bounded.
RECENT_SEALS = 1024
CACHE_SUBJECTS = 100_000


class KeyNotLoaded(CryptoError):
    """A subject's keys were used before KeyRing.prefetch fetched them."""


@frozen
class DataKey:
    """An unwrapped data key, ready to seal with."""

    key_id: int
    aead: AESGCM


@frozen
class SubjectKeys:
    """What this process knows of one subject's keys in one tenant."""

    live: dict[int, AESGCM]
    destroyed: frozenset[int]
    # Worked out once: every post asks for it, and a SubjectKeys is replaced, never changed.
    _writing: DataKey | None = field(init=False, eq=False, repr=False)

    @_writing.default
    def _newest_live_key(self) -> DataKey | None:
        if not self.live or max(self.live) < max(self.destroyed, default=0):
            return None
        key_id = max(self.live)
        return DataKey(key_id, self.live[key_id])

    def knows(self, key_id: int) -> bool:
        """Tell whether key_id is one of the subject's keys, live or destroyed."""
        return key_id in self.live or key_id in self.destroyed

    @property
    def erased(self) -> bool:
        """Tell whether any of the subject's keys was destroyed."""
        return bool(self.destroyed)

    def writing_key(self) -> DataKey | None:
        """Return the newest live key, unless a newer one was destroyed."""
        return self._writing


class KeyRing:
    """Make, fetch, cache and destroy data keys; seal and open values under them."""

    def __init__(
        self,
        store: KeyStore,
        master: MasterKey,
        *,
        capacity: int = CACHE_SUBJECTS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self._master = master
        self._capacity = capacity
        self._clock = clock
        self._subjects: OrderedDict[tuple[str, str], SubjectKeys] = OrderedDict()
        # Sealed text -> (tenant, subject, aad, key id, plaintext): see seal_text.
        self._recent: dict[str, tuple[str, str, bytes, int, bytes]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    @property
    def master_id(self) -> str:
        """Return the id of the master key that wraps (and unwraps) this ring's keys."""
        return self._master.key_id

    def cached_writing_key(self, tenant: str, subject: str) -> DataKey | None:
        """Return the subject's current key when this process holds it, else None.

        The same key writing_key returns, without a coroutine: a post asks for it every time.
        """
        known = self._subjects.get((tenant, subject))
        return None if known is None else known.writing_key()

    async def writing_key(self, tenant: str, subject: str) -> DataKey:
        """Return the subject's current key, making and storing one first when there is none."""
        key = self.cached_writing_key(tenant, subject)
        if key is not None:
            return key
        slot = (tenant, subject)
        lock = self._locks.setdefault(slot, asyncio.Lock())
        async with lock:
            keys = await self._fetch(tenant, subject)
            while (key := keys.writing_key()) is None:
                await self._make(tenant, subject, max((*keys.live, *keys.destroyed), default=0) + 1)
                keys = await self._fetch(tenant, subject)
        self._locks.pop(slot, None)
        return key

    async def prefetch(
        self, subjects: Mapping[tuple[str, str], int] | Iterable[tuple[str, str]]
    ) -> None:
        """Fetch the keys of every (tenant, subject) not yet cached.

        Given a mapping from each (tenant, subject) to the newest key id its sealed values
        name (0 for none), fetch too a subject whose cached keys do not include that id:
        another process made the key since (after an erasure, say), and without it the
        values would read as erased.
        """
        newest = subjects if isinstance(subjects, Mapping) else dict.fromkeys(subjects, 0)
        cached = self._subjects
        for slot, key_id in newest.items():
            known = cached.get(slot)
            if known is None or (key_id and not known.knows(key_id)):
                await self._fetch(*slot)
            else:
                cached.move_to_end(slot)

    def subject(self, tenant: str, subject: str) -> SubjectKeys:
        """Return the cached keys of a subject, or raise KeyNotLoaded."""
        keys = self._subjects.get((tenant, subject))
        if keys is None:
            raise KeyNotLoaded(f"keys of a subject in {tenant} were not prefetched")
        return keys

    @staticmethod
    def key_id_of(sealed: bytes) -> int:
        """Return the id of the key that sealed a value."""
        if len(sealed) < _HEADER.size or sealed[0] != SEAL_FORMAT:
            raise CryptoError("not a sealed value of a known format")
        return int(_HEADER.unpack_from(sealed)[1])

    def seal(self, key: DataKey, plaintext: bytes, aad: bytes) -> bytes:
        """Seal under a data key; the result names the key's id.

        The sealed form of events.crypto.seal after the header, written out here: every
        post seals, and the call would take it through one more module.
        """
        nonce = _urandom(NONCE_BYTES)
        return (
            _HEADER.pack(SEAL_FORMAT, key.key_id) + nonce + key.aead.encrypt(nonce, plaintext, aad)
        )

    def open(self, tenant: str, subject: str, sealed: bytes, aad: bytes) -> bytes | None:
        """Open a sealed value, or return None when the key that sealed it was destroyed."""
        aead = self.subject(tenant, subject).live.get(self.key_id_of(sealed))
        if aead is None:
            return None
        return open_sealed(aead, sealed[_HEADER.size :], aad)

    def seal_text(
        self, key: DataKey, plaintext: bytes, aad: bytes, *, tenant: str, subject: str
    ) -> str:
        """Seal under a subject's data key and return the base64 text.

        The plaintext is remembered until the text is next opened (at most RECENT_SEALS
        of them, the oldest dropped first), so that opening it then decrypts nothing.
        """
        text = _to_base64(self.seal(key, plaintext, aad), newline=False).decode("ascii")
        recent = self._recent
        recent[text] = (tenant, subject, aad, key.key_id, plaintext)
        if len(recent) > RECENT_SEALS:
            del recent[next(iter(recent))]
        return text

    def open_text(
        self, tenant: str, subject: str, sealed: str, aad: bytes, *, keep: bool = False
    ) -> bytes | None:
        """Do what open() does to the base64 text of a sealed value, in one call.

        For bulk export, which opens a message per event: the same checks and errors as
        base64 decoding, key_id_of and open() in turn (KeyNotLoaded, CryptoError,
        SealBroken, binascii.Error), without their calls in between. Text this process
        sealed (seal_text) opens from memory when the tenant, subject and aad are the
        ones it was sealed with and its key is still live; anything else is decrypted.
        With keep, text opened from memory stays there for the next opener: the search
        index reads a message before the fold does, and the fold should not decrypt it.
        """
        keys = self._subjects.get((tenant, subject))
        recent = self._recent.get(sealed) if keep else self._recent.pop(sealed, None)
        if (
            recent is not None
            and recent[:3] == (tenant, subject, aad)
            and keys is not None
            and recent[3] in keys.live
        ):
            return recent[4]
        raw = _from_base64(sealed)
        if keys is None:
            raise KeyNotLoaded(f"keys of a subject in {tenant} were not prefetched")
        if len(raw) < _BODY or raw[0] != SEAL_FORMAT:
            raise CryptoError("not a sealed value of a known format")
        aead = keys.live.get(_key_id(raw)[1])
        if aead is None:
            return None
        try:
            return aead.decrypt(raw[_BODY:_NONCE_END], raw[_NONCE_END:], aad)
        except (InvalidTag, ValueError):
            raise SealBroken("the sealed value does not open under this key and context") from None

    async def destroy(self, tenant: str, subject: str) -> tuple[int, int]:
        """Destroy every key of the subject, leaving a tombstone.

        Return how many were live and the newest key id now destroyed: every value sealed
        under that id or an older one is unreadable.
        """
        self._recent.clear()
        destroyed = await self.store.destroy_keys(tenant, subject)
        keys = await self.store.subject_keys(tenant, subject)
        if not keys:
            # Never had a key: a tombstone still records the erasure, for plaintext of old.
            await self._add(tenant, subject, 1, None)
        known = await self._fetch(tenant, subject)
        return destroyed, max(known.destroyed, default=1)

    def forget(self, tenant: str, subject: str) -> None:
        """Drop a subject's cached keys, so they are fetched again."""
        self._subjects.pop((tenant, subject), None)

    def destroyed_through(self, tenant: str, subject: str, key_id: int) -> None:
        """Learn that a subject's keys up to key_id were destroyed (by another process).

        Its later keys, if this process holds them, stay live: they postdate the erasure.
        """
        self._recent.clear()
        known = self._subjects.get((tenant, subject))
        if known is None:
            return
        gone = {number for number in known.live if number <= key_id}
        live = {number: aead for number, aead in known.live.items() if number > key_id}
        self._subjects[(tenant, subject)] = SubjectKeys(live, known.destroyed | gone)

    def still_live(self, tenant: str, subject: str, key: DataKey) -> bool:
        """Tell whether a key writing_key handed out has not been destroyed since.

        False once this process knows it destroyed (see destroy, destroyed_through); a
        subject no longer cached is not known to be erased.
        """
        known = self._subjects.get((tenant, subject))
        return known is None or key.key_id in known.live

    async def _make(self, tenant: str, subject: str, key_id: int) -> None:
        wrapped = self._master.wrap(new_data_key(), key_aad(tenant, subject, key_id))
        await self._add(tenant, subject, key_id, wrapped)

    async def _add(self, tenant: str, subject: str, key_id: int, wrapped: bytes | None) -> None:
        master_id, now = self._master.key_id, self._clock()
        await self.store.add_key(
            StoredKey(
                tenant=tenant,
                subject=subject,
                key_id=key_id,
                wrapped=wrapped,
                master_id=master_id,
                created_at=now,
            )
        )

    async def _fetch(self, tenant: str, subject: str) -> SubjectKeys:
        live: dict[int, AESGCM] = {}
        destroyed: set[int] = set()
        for stored in await self.store.subject_keys(tenant, subject):
            if stored.wrapped is None:
                destroyed.add(stored.key_id)
                continue
            live[stored.key_id] = AESGCM(unwrap_key(stored, self._master))
        keys = SubjectKeys(live, frozenset(destroyed))
        self._subjects[(tenant, subject)] = keys
        self._subjects.move_to_end((tenant, subject))
        while len(self._subjects) > self._capacity:
            self._subjects.popitem(last=False)
        return keys
