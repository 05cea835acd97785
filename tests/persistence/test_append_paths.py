"""Every way an append reaches the log stores the same rows: the events as given, at the
positions, recording time, links and seals `plan_append` and `plan_seals` assigned, and a
chain that `verify` recomputes, keyed. On PostgreSQL one event goes by its own prepared
statement and several by another (arrays, unnested), or unprepared when the transaction
began before they could be prepared, and one unsealed event in one round trip, its link
computed by the server; SQLite has one path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from dbsupport import fresh_sqlite_url, postgres_service_url, reset_postgres
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from ledger.chain_key import ChainKey
from ledger.store import Append, Appended, IdempotencyRecord, StoredRequest
from persistence.postgres import PgApplicationRecorder, PgDatastore
from persistence.records import (
    GENESIS_LINK,
    Head,
    chain_link,
    plan_append,
    plan_links,
    prepare_append,
    state_digest,
)
from persistence.seal import KEY_FILE_ENV, generate_key_file, keyring_from_environment, seal_mac
from persistence.sqlite import Factory as SqliteFactory
from persistence.sqlite import SqliteApplicationRecorder
from persistence.url import environment_for, libpq_dsn
from persistence.verify import verify

Recorder = PgApplicationRecorder | SqliteApplicationRecorder


@pytest.fixture
def key_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A chain key this process holds, as LEDGER_CHAIN_KEY_FILE names it."""
    key = generate_key_file(tmp_path / "chain.key")
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "chain.key"))
    return key


def announcing(key_id: str) -> StoredEvent:
    state = json.dumps({"key_id": key_id, "reason": "test"}).encode()
    return StoredEvent(uuid4(), 1, get_topic(ChainKey.Introduced), state)


def several(count: int) -> list[StoredEvent]:
    one, other = uuid4(), uuid4()
    return [StoredEvent(one if n % 2 else other, n // 2 + 1, f"t{n % 3}", f'{{"n":{n}}}'.encode())
            for n in range(count)]


def assert_stored_as_planned(recorder: Recorder, given: list[StoredEvent],
                             assigned: list[Appended], *, sealed: bool) -> None:
    first = assigned[0].position
    log = recorder.select_log(first - 1, len(given) + 1)
    inputs = recorder.select_chain_inputs(first - 1, len(given) + 1)
    assert [r.position for r in log] == [a.position for a in assigned]
    assert [r.position for r in log] == list(range(first, first + len(given)))
    previous = GENESIS_LINK if first == 1 else recorder.select_links(first - 2, first - 1, 1)[0][1]
    keyring = keyring_from_environment()
    for row, chain, stored, planned in zip(log, inputs, given, assigned, strict=True):
        assert (str(row.originator_id).replace("-", ""), row.originator_version, row.topic,
                row.state) == (stored.originator_id.hex, stored.originator_version,
                               stored.topic, stored.state)
        assert row.recorded_at == planned.recorded_at == assigned[0].recorded_at
        assert row.link == planned.link == chain_link(
            previous, row.position, row.originator_id, row.originator_version, row.topic,
            state_digest(row.state), row.recorded_at)
        previous = row.link
        if sealed:
            key = keyring.get(str(chain.key_id))
            assert key is not None and chain.seal == seal_mac(key.secret, row.link)
        else:
            assert (chain.key_id, chain.seal) == (None, None)
    result = verify(recorder, keyring=keyring)
    assert result.ok and result.checked == first + len(given) - 1, result.problems


# A note quoted before the append lock and passed through the statement completed under
# it: what looks like a parameter or a quote in it must arrive as it was.
AWKWARD_NOTE = b'{"warnings": ["50% off", "it\'s %s", "%(first)s", "back\\\\slash"]}'


def idempotency_record() -> IdempotencyRecord:
    return IdempotencyRecord(scope="test", key=uuid4().hex, request_hash="h%s'",
                             status_code=201, note=AWKWARD_NOTE)


def assert_request_stored(recorder: Recorder, record: IdempotencyRecord,
                          assigned: list[Appended]) -> None:
    assert recorder.find_request(record.scope, record.key) == StoredRequest(
        record.request_hash, record.status_code, record.note, assigned[0].position,
        assigned[-1].position)


def appended_through(recorder: Recorder, events: list[StoredEvent]) -> list[Appended]:
    append = Append(idempotency_record())
    recorder.insert_events(events, append=append)
    assert append.idempotency is not None
    assert_request_stored(recorder, append.idempotency, append.assigned)
    return list(append.assigned)


def test_the_prepared_and_planned_halves_chain_as_the_formula_does() -> None:
    # prepare_append (before the lock) and plan_links (under it) split link_from_parts's
    # input; the links must be the formula's, byte for byte, from any head.
    events = [*several(5), StoredEvent("text-id-张", 3, "t", b"")]
    head = Head(41, datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), bytes(range(32)), None)
    now = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)  # not after the head: one µs later
    planned = plan_links(head, now, prepare_append(events))
    assert planned.recorded_at == now + timedelta(microseconds=1)
    assert (planned.first, planned.last) == (42, 47)
    previous = head.link
    for position, event, link in zip(range(42, 48), events, planned.links, strict=True):
        previous = chain_link(previous, position, event.originator_id,
                              event.originator_version, event.topic,
                              state_digest(event.state), planned.recorded_at)
        assert link == previous
    assert plan_append(head, now, events) == [
        Appended(p, planned.recorded_at, link, e.originator_id, e.originator_version, e.topic)
        for p, e, link in zip(range(42, 48), events, planned.links, strict=True)]


@pytest.fixture
def pg() -> Iterator[PgApplicationRecorder]:
    reset_postgres()
    datastore = PgDatastore(libpq_dsn(postgres_service_url()), pool_size=1, max_overflow=0)
    yield PgApplicationRecorder(datastore)
    datastore.close()


@pytest.fixture
def sqlite() -> Iterator[SqliteApplicationRecorder]:
    factory = SqliteFactory(environment_for(fresh_sqlite_url()))
    recorder = factory.application_recorder()
    assert isinstance(recorder, SqliteApplicationRecorder)
    yield recorder
    factory.close()


@pytest.mark.postgres
def test_postgres_one_event_and_batches_unsealed_and_sealed(
    pg: PgApplicationRecorder, key_id: str
) -> None:
    for events, sealed in (([several(1)[0]], False), (several(7), False),
                           ([announcing(key_id), *several(9)], True), (several(1), True),
                           (several(2), True)):
        assert_stored_as_planned(pg, events, appended_through(pg, events), sealed=sealed)
    with pg.datastore.connection() as conn:  # the pool's one connection: all were used
        # One unsealed event went in one round trip (its link computed by the server).
        assert {pg.append_one_name, pg.append_many_name, pg.one_trip_names[True],
                pg.read_back_name} <= set(conn.prepared)


@pytest.mark.postgres
def test_postgres_unprepared_statements_store_the_same_rows(
    pg: PgApplicationRecorder, key_id: str
) -> None:
    appended_through(pg, several(3))  # a log to extend, on another connection
    for events, sealed in ((several(1), False), (several(5), False),
                           ([announcing(key_id), *several(4)], True)):
        # A new connection, and a transaction begun before anything could be prepared.
        datastore = PgDatastore(libpq_dsn(postgres_service_url()), pool_size=1)
        recorder = PgApplicationRecorder(datastore)
        append = Append(idempotency_record())
        with datastore.transaction(commit=True) as curs:
            curs.execute("SELECT 1")
            recorder._insert_events(curs, events, append=append)
            assert not curs.conn.prepared
        datastore.close()
        assert_stored_as_planned(pg, events, list(append.assigned), sealed=sealed)
        assert append.idempotency is not None
        assert_request_stored(pg, append.idempotency, append.assigned)


def test_sqlite_one_event_and_batches_unsealed_and_sealed(
    sqlite: SqliteApplicationRecorder, key_id: str
) -> None:
    for events, sealed in (([several(1)[0]], False), (several(7), False),
                           ([announcing(key_id), *several(9)], True), (several(1), True)):
        assert_stored_as_planned(sqlite, events, appended_through(sqlite, events),
                                 sealed=sealed)
