"""The EventStore port: the store skeleton every backend extends, what it returns, its errors.

EventStore is GroupCommitStore, the one implementation of the port's methods (appends in
group_commit, reads in reads). A backend is a subclass that supplies its statements,
its row codec and its connection; a Protocol restating each signature beside it would be
a second copy of the contract that the skeleton already states, and types check against
the class.

What the port takes and returns, and its errors (the tree is drawn in records), are
re-exported from records as `name as name`, so that they are listed once, in
records.__all__, and callers keep importing them from here.
"""

from events.store.group_commit import GroupCommitStore as EventStore
from events.store.records import DECODE_CHUNK as DECODE_CHUNK
from events.store.records import ConcurrencyError as ConcurrencyError
from events.store.records import EventFilter as EventFilter
from events.store.records import IdempotencyConflict as IdempotencyConflict
from events.store.records import IdempotencyRecord as IdempotencyRecord
from events.store.records import InvalidAppend as InvalidAppend
from events.store.records import RecordedEvent as RecordedEvent
from events.store.records import StoreClosed as StoreClosed
from events.store.records import StoreError as StoreError
from events.store.records import check_batch as check_batch

__all__ = ["EventStore"]
