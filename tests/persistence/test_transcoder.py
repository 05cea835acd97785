"""The kept-encoder transcoder writes the library's JSON, byte for byte, for every value type
the ledger stores and every event the demo bank records; the library's transcoder reads it."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from dbsupport import fresh_sqlite_url
from eventsourcing.persistence import JSONTranscoder, TranscodingNotRegisteredError

from ledger.application import LedgerApplication
from ledger.base import register_transcodings
from ledger.demo import load_demo
from persistence.transcoder import KeptEncoderTranscoder
from persistence.url import environment_for


def transcoders() -> tuple[JSONTranscoder, KeptEncoderTranscoder]:
    library, kept = JSONTranscoder(), KeptEncoderTranscoder()
    register_transcodings(library)
    register_transcodings(kept)
    return library, kept


EVERY_VALUE_TYPE: dict[str, Any] = {
    "decimal": Decimal("1234.5600"),
    "negative_decimal": Decimal("-0.01"),
    "date": date(2026, 3, 31),
    "aware": datetime(2026, 12, 1, 14, 53, 23, 123456, tzinfo=UTC),
    "offset": datetime(2026, 1, 1, 8, 0, tzinfo=timezone(timedelta(hours=8))),
    "naive": datetime(2026, 1, 1, 8, 0),
    "uuid": UUID("12345678-1234-5678-1234-567812345678"),
    "tuple": (1, "two", Decimal("3"), date(2026, 1, 4)),
    "list": [None, True, False, 0, -7, 2**63, 1.5, float("inf")],
    "nested": {"rules": {"grades": {"A": [Decimal("0.1"), {"deep": (uuid4(),)}]}}, "": {}},
    "text": "Zhang Min 张敏 \"quoted\" \\ back\nline\ttab \x00 \u2028 é",
    "empty": ["", (), [], {}],
    "none": None,
}


def test_every_value_type_encodes_to_the_librarys_bytes() -> None:
    library, kept = transcoders()
    encoded = kept.encode(EVERY_VALUE_TYPE)
    assert encoded == library.encode(EVERY_VALUE_TYPE)
    assert library.decode(encoded) == library.decode(library.encode(EVERY_VALUE_TYPE))
    for value in EVERY_VALUE_TYPE.values():  # each value on its own, at the top level too
        assert kept.encode(value) == library.encode(value)


def test_the_demo_banks_events_are_stored_as_the_library_encodes_them() -> None:
    app = LedgerApplication(env=environment_for(fresh_sqlite_url()))
    try:
        assert isinstance(app.mapper.transcoder, KeptEncoderTranscoder)
        load_demo(app)
        library, _ = transcoders()
        stored = app.recorder.select_notifications(start=1, limit=10_000)
        topics = {s.topic for s in stored}
        for s in stored:
            assert library.encode(library.decode(s.state)) == s.state, s.topic
            # ...and the application still reads what it wrote.
            app.mapper.to_domain_event(s)
    finally:
        app.close()
    assert len(topics) >= 10, topics  # managers, customers, postings, deductions, disputes...


def test_an_unregistered_type_fails_as_in_the_library_and_the_next_state_encodes() -> None:
    library, kept = transcoders()
    shared = {"same": "dict"}
    for transcoder in (library, kept):
        with pytest.raises(TranscodingNotRegisteredError):
            transcoder.encode({"held": shared, "bad": object()})
    # The failed encoding left no circular-reference markers behind for `shared`.
    assert kept.encode({"held": shared}) == library.encode({"held": shared})


def test_a_circular_state_fails_as_in_the_library() -> None:
    library, kept = transcoders()
    circular: dict[str, Any] = {}
    circular["self"] = circular
    for transcoder in (library, kept):
        with pytest.raises(ValueError, match="Circular reference"):
            transcoder.encode(circular)
    assert kept.encode({"a": 1}) == b'{"a":1}'


def test_each_thread_encodes_with_its_own_encoder() -> None:
    library, kept = transcoders()
    kept.encode({"warm": 1})  # this thread's encoder exists before the other's
    found: list[bytes] = []
    thread = threading.Thread(target=lambda: found.append(kept.encode(EVERY_VALUE_TYPE)))
    thread.start()
    thread.join()
    assert found == [library.encode(EVERY_VALUE_TYPE)]
