"""Durable consumers' checkpoints, kept beside the log in the store's own database.

A consumer is a name in one tenant and env, the event types it wants (none: every type)
and a checkpoint: the global position of the last event it acknowledged. The log's
gap-free order makes that one number enough: nothing after it was ever skipped.
"""

from events.consumers.book import (
    CheckpointStore,
    Consumer,
    MemoryCheckpointStore,
    open_checkpoint_store,
)

__all__ = ["CheckpointStore", "Consumer", "MemoryCheckpointStore", "open_checkpoint_store"]
