"""Check SQLite rows for export without decoding them, and give their export records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from events.codec import EventCodec, PayloadCanonical
from events.envelope import is_payload_class, quick_test
from events.store.row_decoder import ENV_OF, Row

__all__ = ["Checked", "RowChecker"]

# The rule of DatasetEvent for the fields a row holds as they will be built.
_context_valid = quick_test("stream", "version", "tenant", "env", "request_id", "trace_id", "actor")
_parse_time = datetime.fromisoformat
_load_json = orjson.loads

_NO_SHORTCUT = (None, 0)
# What RowChecker.checked finds: the payload, time, metadata and schema version exported.
Checked = tuple[dict[str, Any], str, dict[str, Any], int]
_CHECKED: dict[str, Any] = {}


class RowChecker:
    """Tell, without building it, that a row decodes, and give its export record.

    `record` answers for a row every context field of which passes DatasetEvent's rule
    (its quick test, generated from the envelope's FieldRules), whose payload its codec can
    convert without decoding (see EventCodec.payload_canonical), and whose metadata, if
    any, is a JSON object. For any other row it returns None, and the caller decodes the
    row with RowDecoder, which builds the event or refuses the row.
    """

    def __init__(self, codec: EventCodec) -> None:
        self._codec = codec
        self._payloads: dict[tuple[str, int], tuple[PayloadCanonical | None, int]] = {}
        self._seconds: dict[str, bool] = {}

    def record(self, row: Row, build: bool = True) -> dict[str, Any] | None:
        """Return the event's export record (see tooling.export_record), None when unsure.

        With build=False an empty dict stands for the record: the row is only checked.
        """
        found = self.checked(row)
        if found is None:
            return None
        if not build:
            return _CHECKED
        data, when, extra, current = found
        position, event_id, stream, version, event_type = row[:5]
        tenant, env, request_id, trace_id, actor = row[6:11]
        hexed = event_id.hex()
        return {
            "event_id": f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}",
            "type": event_type,
            "schema_version": current,
            "stream": stream,
            "version": version,
            "position": position,
            "tenant": tenant,
            "env": env,
            "request_id": request_id,
            "trace_id": trace_id,
            "actor": actor,
            "occurred_at": when,
            "payload": data,
            "metadata": extra,
        }

    def checked(self, row: Row) -> Checked | None:
        """Return the row's payload, time, metadata and schema version as exported, or None.

        None when unsure, as for record. The row's other columns are exported as stored:
        the check proved them what decoding would give (a 16-byte event id is the UUID of
        its hex).
        """
        _position, event_id, stream, version, event_type, schema_version = row[:6]
        tenant, env, request_id, trace_id, actor, occurred_at, payload, metadata = row[6:]
        if not (
            type(event_id) is bytes
            and len(event_id) == 16
            and type(occurred_at) is str
            and _context_valid(stream, version, tenant, ENV_OF(env), request_id, trace_id, actor)
        ):
            return None
        canonical, current = self._payloads.get((event_type, schema_version), _NO_SHORTCUT)
        if canonical is None:
            if (event_type, schema_version) in self._payloads:
                return None
            canonical, current = self._shortcut(event_type, schema_version)
            if canonical is None:
                return None
        # The store's fixed-width time, checked by its (cached) second: see _time_text.
        second = occurred_at[:19]
        fraction = occurred_at[20:26]
        if (
            self._seconds.get(second)
            and len(occurred_at) == 32
            and occurred_at[19] == "."
            and occurred_at[26:] == "+00:00"
            and fraction.isdigit()
            and fraction.isascii()
        ):
            when = occurred_at if fraction != "000000" else second + "+00:00"
        else:
            found = self._time_text(occurred_at)
            if found is None:
                return None
            when = found
        data = canonical(payload)
        if data is None:
            return None
        if metadata is None:
            extra: Any = {}
        else:
            try:
                # What the decoder would freeze: any JSON object, shown again as it was.
                extra = _load_json(metadata)
            except ValueError:
                return None
            if type(extra) is not dict:
                return None
        return data, when, extra, current

    def _time_text(self, text: str) -> str | None:
        """Return what parsing the stored time and isoformat() give, None when not UTC.

        The store writes fixed-width times (see encode_time); their first 19 characters
        change once a second, so a text of that shape is checked by its second, cached,
        and by its six digits of microseconds.
        """
        if len(text) == 32 and text[19] == "." and text[26:] == "+00:00":
            second, fraction = text[:19], text[20:26]
            if fraction.isdigit() and fraction.isascii() and self._canonical_second(second):
                return text if fraction != "000000" else second + "+00:00"
        try:
            moment = _parse_time(text)
        except ValueError:
            return None
        return moment.isoformat() if moment.tzinfo is UTC else None

    def _canonical_second(self, second: str) -> bool:
        known = self._seconds.get(second)
        if known is None:
            try:
                known = _parse_time(second).isoformat() == second
            except ValueError:
                known = False
            if len(self._seconds) >= 100_000:
                self._seconds.clear()
            self._seconds[second] = known
        return known

    def _shortcut(
        self, event_type: Any, schema_version: Any
    ) -> tuple[PayloadCanonical | None, int]:
        found: tuple[PayloadCanonical | None, int] = _NO_SHORTCUT
        if type(event_type) is str and type(schema_version) is int:
            canonical = self._codec.payload_canonical(event_type, schema_version)
            if canonical is not None:
                cls = self._codec.registry.payload_class(event_type)
                current = cls.schema_version
                # As the event's payload rule asks: a registered attrs EventPayload.
                if is_payload_class(cls):
                    found = (canonical, current)
        if len(self._payloads) < 1024:  # a tampered log may name any number of types
            self._payloads[(event_type, schema_version)] = found
        return found
