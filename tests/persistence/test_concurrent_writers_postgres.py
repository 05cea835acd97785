"""Concurrent writers in separate processes, one reader tailing the log (DESIGN §8).

Four spawned processes, each with its own datastore and recorder connected as the service
role, append thousands of events in batches of mixed sizes while this process tails the log
with `select_notifications` after the last position it has seen. The claims checked:

- no gap is ever filled later: every page starts right after the last position seen and is
  contiguous, so no position ever appears behind the reader;
- no duplicates: the final log is exactly positions 1..N, N = the number of events appended;
- notification order is commit order: each writer's positions rise across its batches, a
  batch occupies consecutive positions, and recorded_at never decreases along the log;
- the hash chain is intact: every link recomputes from its predecessor and its event.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
import traceback
from typing import Any
from uuid import UUID, uuid4

import psycopg2
import pytest
from dbsupport import postgres_admin_url, postgres_service_url, reset_postgres
from eventsourcing.persistence import StoredEvent

from persistence.postgres import PgApplicationRecorder, PgDatastore
from persistence.records import GENESIS_LINK, chain_link, state_digest
from persistence.url import libpq_dsn

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WRITERS = 4
EVENTS_PER_WRITER = 5_000
# Mostly single-event transactions (the most lock hand-overs), some batches of 10 and 50.
BATCH_PATTERN = (1, 1, 1, 10, 1, 50)
READER_PAGE = 250
DEADLINE_SECONDS = 120.0
TOPIC = "tests.concurrent:Appended"


def batch_sizes(total: int) -> list[int]:
    """The batch sizes one writer uses: the pattern repeated until at least `total` events."""
    sizes: list[int] = []
    while sum(sizes) < total:
        sizes.extend(BATCH_PATTERN)
    return sizes


def write_events(
    writer: int, dsn: str, start: Any, results: Any, sizes: list[int]
) -> None:
    """Child process: append the batches and report, per batch, the ids and positions."""
    try:
        datastore = PgDatastore(dsn, pool_size=1, max_overflow=0)
        recorder = PgApplicationRecorder(datastore)
        batches: list[tuple[str, list[int]]] = []
        start.wait(timeout=60)
        for size in sizes:
            originator_id = uuid4()
            stored = [
                StoredEvent(
                    originator_id=originator_id,
                    originator_version=version,
                    topic=TOPIC,
                    state=f"writer {writer} event {version}".encode(),
                )
                for version in range(1, size + 1)
            ]
            positions = recorder.insert_events(stored)
            batches.append((originator_id.hex, list(positions or [])))
        datastore.close()
        results.put(("ok", writer, batches))
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put(("error", writer, traceback.format_exc()))


def test_concurrent_writers_in_separate_processes_leave_a_gap_free_ordered_chained_log() -> None:
    reset_postgres()
    dsn = libpq_dsn(postgres_service_url())
    sizes = batch_sizes(EVENTS_PER_WRITER)
    expected_total = WRITERS * sum(sizes)

    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    results = ctx.Queue()
    processes = [
        ctx.Process(target=write_events, args=(n, dsn, start, results, sizes), daemon=True)
        for n in range(WRITERS)
    ]
    for process in processes:
        process.start()

    reader_store = PgDatastore(dsn, pool_size=1, max_overflow=0)
    reader = PgApplicationRecorder(reader_store)
    seen: dict[int, tuple[str, int]] = {}  # position -> (originator id, version)
    last_seen = 0
    pages_while_writing = 0
    reports: dict[int, Any] = {}
    try:
        start.set()
        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            page = reader.select_notifications(
                start=last_seen, limit=READER_PAGE, inclusive_of_start=False
            )
            if page:
                positions = [n.id for n in page]
                # (a) the page starts right after what we saw, and has no holes: a later
                # commit never fills a position below one already visible.
                assert positions[0] == last_seen + 1, (last_seen, positions[:5])
                assert positions == list(range(positions[0], positions[0] + len(positions)))
                for n in page:
                    seen[n.id] = (UUID(str(n.originator_id)).hex, n.originator_version)
                last_seen = positions[-1]
                if len(reports) < WRITERS:
                    pages_while_writing += 1
                continue
            try:
                while True:
                    status, writer, payload = results.get_nowait()
                    assert status == "ok", f"writer {writer} failed:\n{payload}"
                    reports[writer] = payload
            except queue.Empty:
                pass
            if len(reports) == WRITERS and last_seen >= expected_total:
                break
            for process in processes:
                if process.exitcode not in (None, 0):
                    pytest.fail(f"a writer process died with exit code {process.exitcode}")
            assert time.monotonic() < deadline, f"timed out at position {last_seen}"
            time.sleep(0.002)
    finally:
        reader_store.close()
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()

    assert all(process.exitcode == 0 for process in processes)
    # The reader really tailed a moving log, not just a finished one.
    assert pages_while_writing >= 10

    # (b) exactly 1..N, each position once.
    assert last_seen == expected_total
    assert sorted(seen) == list(range(1, expected_total + 1))
    assigned: list[int] = []
    for writer, batches in reports.items():
        assert [len(p) for _, p in batches] == sizes, f"writer {writer} lost a batch"
        previous_last = 0
        for originator_hex, positions in batches:
            # A batch is one transaction: consecutive positions, in the order given.
            assert positions == list(range(positions[0], positions[0] + len(positions)))
            # (c) a writer's later commit always got a later position.
            assert positions[0] > previous_last, f"writer {writer} went backwards"
            previous_last = positions[-1]
            # What the writer was told is what the reader found at that position.
            for version, position in enumerate(positions, start=1):
                assert seen[position] == (originator_hex, version)
            assigned.extend(positions)
    assert len(assigned) == len(set(assigned)) == expected_total

    # (c) and (d), from the tables themselves.
    conn = psycopg2.connect(libpq_dsn(postgres_admin_url()))
    try:
        with conn.cursor() as curs:
            curs.execute(
                "SELECT e.position, e.originator_id, e.originator_version, e.topic, e.state, "
                "e.recorded_at, c.link FROM events e JOIN event_chain c USING (position) "
                "ORDER BY e.position"
            )
            rows = curs.fetchall()
            curs.execute("SELECT count(*) FROM event_chain")
            chain_rows = curs.fetchone()[0]
    finally:
        conn.close()
    assert len(rows) == chain_rows == expected_total

    link = GENESIS_LINK
    previous_recorded_at = None
    for position, originator_id, version, topic, state, recorded_at, stored_link in rows:
        if previous_recorded_at is not None:
            assert recorded_at >= previous_recorded_at, f"recorded_at went back at {position}"
        previous_recorded_at = recorded_at
        link = chain_link(
            link, position, originator_id, version, topic, state_digest(bytes(state)), recorded_at
        )
        assert bytes(stored_link) == link, f"chain broken at position {position}"
