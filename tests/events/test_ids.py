"""Event ids: RFC 9562 version 7, ordered by the millisecond they were made, never repeated."""

from __future__ import annotations

import os
import pickle
import time
import uuid

from events.ids import new_event_id


def test_an_event_id_is_a_version_7_rfc_uuid_of_this_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    made = new_event_id()
    after = time.time_ns() // 1_000_000
    assert made.version == 7
    assert made.variant == "specified in RFC 4122"
    assert before <= made.int >> 80 <= after


def test_ids_made_in_later_milliseconds_sort_after_in_the_index() -> None:
    earlier = new_event_id()
    time.sleep(0.002)
    later = new_event_id()
    assert earlier.bytes < later.bytes


def test_a_burst_of_ids_within_milliseconds_has_no_repeat() -> None:
    burst = [new_event_id() for _ in range(100_000)]
    assert len(set(burst)) == len(burst)
    assert len({made.int >> 80 for made in burst}) < len(burst)  # many shared a millisecond


def test_an_event_id_is_the_uuid_its_own_int_names() -> None:
    made = new_event_id()
    rebuilt = uuid.UUID(int=made.int)
    assert made == rebuilt
    assert hash(made) == hash(rebuilt)
    assert str(made) == str(rebuilt)
    assert made.bytes == rebuilt.bytes
    assert made.is_safe is uuid.SafeUUID.unknown
    assert pickle.loads(pickle.dumps(made)) == made
    assert uuid.UUID(str(made)) == made


def test_ids_of_one_process_sort_in_the_order_they_were_made() -> None:
    burst = [new_event_id() for _ in range(10_000)]
    assert [made.bytes for made in burst] == sorted(made.bytes for made in burst)


def test_a_forked_child_makes_other_ids_than_its_parent() -> None:
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # the child: write its ids and leave at once
        os.close(reading)
        os.write(writing, " ".join(str(new_event_id()) for _ in range(4)).encode())
        os._exit(0)
    os.close(writing)
    parent_ids = {str(new_event_id()) for _ in range(4)}
    with os.fdopen(reading) as pipe:
        child_ids = set(pipe.read().split())
    os.waitpid(child, 0)
    assert len(child_ids) == 4
    assert not child_ids & parent_ids
