"""Data keys per (tenant, subject): stored wrapped beside the log, cached unwrapped in memory.

Three parts: the port a key store implements and the one in memory (keys.keystore), the
ring that makes, caches and destroys keys and seals and opens values under them
(keys.ring), and master-key rotation (keys.rotation). Their public names are here too.
"""

from events.keys.keystore import KeyStore, MemoryKeyStore, StoredKey, key_aad, open_key_store
from events.keys.ring import DataKey, KeyNotLoaded, KeyRing, SubjectKeys
from events.keys.rotation import rewrap, rotate_master_key

__all__ = [
    "DataKey",
    "KeyNotLoaded",
    "KeyRing",
    "KeyStore",
    "MemoryKeyStore",
    "StoredKey",
    "SubjectKeys",
    "key_aad",
    "open_key_store",
    "rewrap",
    "rotate_master_key",
]
