"""Event stores: the port, its backends, and opening one from a URL.

The port's names are re-exported as `name as name` (PEP 484's explicit re-export), so
that they are listed once, in base.__all__, and not again here.
"""

from events.store.base import ConcurrencyError as ConcurrencyError
from events.store.base import EventFilter as EventFilter
from events.store.base import EventStore as EventStore
from events.store.base import IdempotencyConflict as IdempotencyConflict
from events.store.base import IdempotencyRecord as IdempotencyRecord
from events.store.base import InvalidAppend as InvalidAppend
from events.store.base import RecordedEvent as RecordedEvent
from events.store.base import StoreClosed as StoreClosed
from events.store.base import StoreError as StoreError
from events.store.url import open_store as open_store
