"""Opening sealed text in one call (bulk export) answers as the step-by-step way does."""

from __future__ import annotations

import base64
import binascii

import attrs
import pytest

from chat_core.export_view import ChatExportView
from chat_core.payloads import MessagePosted
from chat_core.sealing import message_aad, open_message
from events.codec import EventCodec
from events.crypto import CryptoError, SealBroken
from events.envelope import Env
from events.keys import KeyNotLoaded
from events.store.base import RecordedEvent
from tests.erasure.seals import AUTHOR, TENANT, ring, seal_one
from tests.events.factories import make_event


async def test_open_text_opens_what_open_opens() -> None:
    keys = ring()
    sealed = await seal_one(keys)
    aad = message_aad(TENANT, AUTHOR, "msg_1")
    expected = keys.open(TENANT, AUTHOR, base64.b64decode(sealed), aad)
    assert expected is not None
    assert keys.open_text(TENANT, AUTHOR, sealed, aad) == expected


async def test_open_text_refuses_as_open_refuses() -> None:
    keys = ring()
    sealed = await seal_one(keys)
    aad = message_aad(TENANT, AUTHOR, "msg_1")
    with pytest.raises(SealBroken):
        keys.open_text(TENANT, AUTHOR, sealed, message_aad(TENANT, AUTHOR, "msg_2"))
    raw = bytearray(base64.b64decode(sealed))
    raw[-1] ^= 1
    with pytest.raises(SealBroken):
        keys.open_text(TENANT, AUTHOR, base64.b64encode(raw).decode(), aad)
    with pytest.raises(SealBroken):
        keys.open_text(TENANT, AUTHOR, base64.b64encode(raw[:9]).decode(), aad)
    with pytest.raises(CryptoError, match="known format"):
        keys.open_text(TENANT, AUTHOR, base64.b64encode(b"\x02" + raw[1:]).decode(), aad)
    with pytest.raises(CryptoError, match="known format"):
        keys.open_text(TENANT, AUTHOR, base64.b64encode(raw[:3]).decode(), aad)
    with pytest.raises(binascii.Error):
        keys.open_text(TENANT, AUTHOR, sealed[:-3], aad)
    with pytest.raises(KeyNotLoaded):
        keys.open_text(TENANT, "u_bob", sealed, aad)


async def test_open_text_of_an_erased_subject_is_none() -> None:
    keys = ring()
    sealed = await seal_one(keys)
    await keys.destroy(TENANT, AUTHOR)
    assert keys.open_text(TENANT, AUTHOR, sealed, message_aad(TENANT, AUTHOR, "msg_1")) is None
    assert (
        open_message(keys, tenant=TENANT, author=AUTHOR, message_id="msg_1", sealed=sealed) is None
    )


def _posted(sealed: str) -> RecordedEvent:
    payload = MessagePosted(thread_id="th_1", message_id="msg_1", seq=1, role="user", sealed=sealed)
    event = make_event("chat/th_1", 1, tenant=TENANT, env=Env.DEV, payload=payload)
    return RecordedEvent(event=attrs.evolve(event, actor=AUTHOR), position=1)


@pytest.mark.parametrize("erase", [False, True])
@pytest.mark.parametrize("redact", [False, True])
async def test_the_export_view_shows_rows_as_it_shows_events(erase: bool, redact: bool) -> None:
    keys = ring()
    sealed = await seal_one(keys)
    if erase:
        await keys.destroy(TENANT, AUTHOR)
    codec = EventCodec()
    view = ChatExportView(
        keys=keys, redacted={"msg_1"} if redact else set(), converter=codec.converter
    )
    item = _posted(sealed)
    data = codec.converter.unstructure(item.event.payload)
    shown = view.payload_data(MessagePosted.event_type, TENANT, AUTHOR, data)
    assert shown == view.payload(item)
    assert shown is not None
    assert shown["erased"] is erase
    assert shown["redacted"] is redact
    if erase or redact:
        assert shown["content"] is None and shown["metadata"] == {}
    else:
        assert (shown["content"], shown["metadata"]) == ("hello", {"k": "v"})


async def test_the_export_view_asks_for_keys_it_has_not_fetched() -> None:
    keys = ring()
    sealed = await seal_one(keys)
    keys.forget(TENANT, AUTHOR)
    view = ChatExportView(keys=keys, redacted=set(), converter=EventCodec().converter)
    data = EventCodec().converter.unstructure(_posted(sealed).event.payload)
    assert view.payload_data(MessagePosted.event_type, TENANT, AUTHOR, data) is None
    await view.prepare_subjects([(TENANT, AUTHOR)])
    assert view.payload_data(MessagePosted.event_type, TENANT, AUTHOR, data) is not None
