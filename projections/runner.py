"""The batch processor: reads the log in pages and applies each page exactly once.

Exactly once: a page's fact rows and the tracking position they bring commit in one
transaction, and the position moves by compare-and-set from the value the page was read
after. Two processors (a worker and an API catching up inline) may race; the loser's
update matches nothing and its whole page rolls back, so no fact is written twice.

A rebuild empties the views and their tracking, then replays. It leaves a marker row in
`tracking` until it finishes, so a rebuild that was interrupted (Ctrl-C, kill -9) resumes
from its last committed page when rerun instead of starting over.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    DecimalAsStr,
    JSONTranscoder,
    Notification,
    PersistenceError,
)
from sqlalchemy import Connection, Engine, delete, func, select
from sqlalchemy.exc import SQLAlchemyError

from ledger.application import LedgerApplication
from ledger.base import DateAsISO
from ledger.errors import ProjectionLagging
from persistence.config import READ_URL
from persistence.coordination import Coordinator, coordinator_for, owners
from persistence.engines import projection_url
from persistence.postgres import PgDatastore
from projections import tables as t
from projections.database import (
    advance,
    engine_for,
    ensure_tracking,
    forget,
    projection_engine_for,
    read_engine_for,
    reading,
    tracked,
    tracking_rows,
    writing,
)
from projections.facts import (
    CLASS_VERSIONS,
    NAMED_BY_CUSTOMER,
    NAMED_BY_MANAGER,
    POSTED,
    TOPICS,
    Names,
    StateDecoder,
    facts_of_recorded,
    recorded,
)
from projections.materialised import LIVE, SWEEPERS, FigureView
from projections.writer import copies, posting_line, write_facts

FACTS = "projection:facts"
REBUILD_MARK = "rebuild:"
DEFAULT_PAGE = 2_000
MAX_PAGE = 10_000
MAX_RETRY_AFTER = 60
STEP_PAGES = 10
REPLICA_SUFFIX = "@replica"
"""Pages a worker applies before it looks again at its stop flag and its locks."""

log = logging.getLogger("ledger.projections")

Progress = Callable[[int], None]
"""Told how many more events (or managers) were processed."""


def _no_progress(_: int) -> None:
    return None


@dataclass(frozen=True)
class Page:
    """One page of the log as fact rows, covering positions (start, end]; some rows may
    come as COPY text lines already (writer.posting_line)."""

    start: int
    end: int
    rows: dict[str, list[Mapping[str, Any]]]
    lines: dict[str, list[str]] = field(default_factory=dict)


Stored = tuple[int, Any, int, str, Any]
"""One row of the log as read: position, originator id (a UUID, or its text), originator
version, topic, state (bytes or a buffer)."""


class FactsProjection:
    """Turns events into fact rows, page by page, under the tracking name `projection:facts`."""

    def __init__(self, app: LedgerApplication, page: int = DEFAULT_PAGE) -> None:
        if not 1 <= page <= MAX_PAGE:
            raise ValueError(f"page must be between 1 and {MAX_PAGE}")
        self.app = app
        # The writer's role: a page's rows and its tracking position are read-model writes.
        self.engine: Engine = projection_engine_for(app)
        self.page = page
        self.names = Names()
        self.flush_each_page = True
        """False in a rebuild: see `without_flush_wait`."""
        # Stored state is read as it stands only when it is plain transcoded JSON.
        transcoder = app.mapper.transcoder
        self._decoder = (
            StateDecoder(transcoder) if isinstance(transcoder, JSONTranscoder)
            and app.mapper.cipher is None and app.mapper.compressor is None else None
        )
        # A posting's row may go straight from its JSON to COPY text (where the writer
        # copies: see _rows) when the transcoder's decimals and dates are the library's and ours.
        self._posting_lines = (
            self._decoder is not None and isinstance(transcoder, JSONTranscoder)
            and type(transcoder.names.get("decimal_str")) is DecimalAsStr
            and type(transcoder.names.get("date_iso")) is DateAsISO
        )
        # The log's rows read by one SELECT of their columns on PostgreSQL (no Notification
        # objects, the id as text): the recorder's conversion was a fifth of the reader's time.
        self._log_table = getattr(app.recorder, "events_table_name", None) if isinstance(
            getattr(app.recorder, "datastore", None), PgDatastore) else None

    def position(self) -> int:
        with reading(self.engine) as conn:
            return tracked(conn, FACTS) or 0

    def head(self) -> int:
        return int(self.app.recorder.max_notification_id() or 0)

    def process_page(self, until: int | None = None) -> int:
        """Applies the next page; returns how many positions it covered (0: nothing to do,
        or another processor applied this page first and the next call goes on from its)."""
        page = self._prepare(self._start(), until)
        if page is None or not self._apply(page):
            return 0
        return page.end - page.start

    def catch_up(
        self, until: int | None = None, timeout: float | None = None,
        progress: Progress = _no_progress,
    ) -> int:
        """Processes pages until `until` (default: the head now); returns the position reached.

        With a timeout, raises ProjectionLagging when the position is not reached in time.
        The next page is read and decoded in a second thread while this one writes the
        current page, so Python decodes while the database works.
        """
        target = self.head() if until is None else until
        started = time.monotonic()
        with self._writer() as conn, ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="facts-read-ahead") as reader:
            ahead = reader.submit(self._prepare, self._start(), target)
            while (page := ahead.result()) is not None:
                # Read ahead as if this page will commit; if it does not, read again.
                ahead = reader.submit(self._prepare, page.end, target)
                if self._apply(page, conn):
                    progress(page.end - page.start)
                else:
                    ahead.cancel()
                    ahead = reader.submit(self._prepare, self._start(), target)
                _check_time(started, timeout, self.position, target)
        return self.position()

    def _prepare(self, start: int, until: int | None) -> Page | None:
        """The page after `start` as fact rows, or None when there is nothing up to `until`."""
        if until is not None and start >= until:
            return None
        log = self._read(start, until)
        if not log:
            return None
        rows, lines = self._rows(log)
        return Page(start, log[-1][0], rows, lines)

    def _read(self, start: int, until: int | None) -> Sequence[Stored]:
        """Up to a page of the log after `start` (and up to `until`), in position order."""
        if self._log_table is None:
            return [(n.id, n.originator_id, n.originator_version, n.topic, n.state)
                    for n in self.app.recorder.select_notifications(
                        start, self.page, stop=until, inclusive_of_start=False)]
        statement = (
            "SELECT position, originator_id::text, originator_version, topic, state "
            f"FROM {self._log_table} WHERE position > %s"
            + (" AND position <= %s" if until is not None else "")
            + " ORDER BY position LIMIT %s"
        )
        params = (start, until, self.page) if until is not None else (start, self.page)
        datastore: PgDatastore = self.app.recorder.datastore  # type: ignore[attr-defined]
        with datastore.transaction(commit=False) as curs:
            curs.execute(statement, params)
            found: list[Stored] = curs.fetchall()
        return found

    @contextmanager
    def _writer(self) -> Iterator[Connection]:
        """One writing connection for a catch-up's pages, each page its own transaction:
        checking a pooled connection out per page pinged the server each time (py-spy:
        a tenth of the facts stage at 100k, the ping waiting behind the page's COPY)."""
        with self.engine.connect() as conn:
            conn.execution_options(writing=True)  # as persistence.engines.writing marks it
            yield conn

    def _apply(self, page: Page, conn: Connection | None = None) -> bool:
        """Commits the page's rows with its position; False if another processor was first."""
        if conn is None:
            with writing(self.engine) as conn:
                return self._commit(page, conn)
        with conn.begin():
            return self._commit(page, conn)

    def _commit(self, page: Page, conn: Connection) -> bool:
        if not advance(conn, FACTS, page.start, page.end):
            conn.rollback()
            return False
        if not self.flush_each_page:
            without_flush_wait(conn)
        write_facts(conn, page.rows, page.lines)
        return True

    def _start(self) -> int:
        with reading(self.engine) as conn:
            start = tracked(conn, FACTS)
        if start is None:
            # First run, or a rebuild just emptied the facts: start from the beginning.
            with writing(self.engine) as conn:
                ensure_tracking(conn, FACTS)
            start = 0
        return start

    def _rows(self, log: Sequence[Stored]) -> tuple[
            dict[str, list[Mapping[str, Any]]], dict[str, list[str]]]:
        """The page's fact rows, and the postings' COPY lines where they go straight."""
        # Comments and other events that establish no facts are not even decoded.
        events = []
        lines: list[str] = []
        # The engine is asked each page: the replay check points a projection at a scratch.
        straight = self._posting_lines and copies(self.engine.dialect)
        for stored in log:
            topic = stored[3]
            if topic not in TOPICS:
                continue
            if topic == POSTED and straight:
                line = posting_line(str(stored[4], "utf8"), _hex_of(stored[1]), stored[0],
                                    CLASS_VERSIONS[POSTED])
                if line is not None:
                    lines.append(line)
                    continue
            events.append((stored[0], topic, self._event(stored)))
        self._learn_names(events)
        rows: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for fact in facts_of_recorded(events, self.names):
            rows[fact.table].append(fact.values)
        return rows, ({t.contributions.name: lines} if lines else {})

    def _event(self, stored: Stored) -> Any:
        """The event's recorded fields without the domain object (facts.Recorded) when its
        state is plain JSON of its class's current version; else the domain event, which
        the library's mapper decrypts, decompresses or upcasts."""
        position, originator_id, version, topic, state = stored
        if self._decoder is not None:
            found = recorded(topic, self._decoder.decode(state), _uuid(originator_id), version)
            if found is not None:
                return found
        return self.app.mapper.to_domain_event(Notification(
            id=position, originator_id=_uuid(originator_id), originator_version=version,
            topic=topic, state=bytes(state)))

    def _learn_names(self, events: Sequence[tuple[int, str, Any]]) -> None:
        """Looks up, in one query per kind, the names this page needs and did not register."""
        for kind_topics, table, column in (
            (NAMED_BY_MANAGER, t.managers, "manager_id"),
            (NAMED_BY_CUSTOMER, t.customers, "customer_id"),
        ):
            missing = set()
            for _, topic, event in events:
                registered = getattr(event, "business_id", None)
                if registered is not None:
                    self.names.learn(event.originator_id, registered)
                elif topic in kind_topics and not self.names.knows(event.originator_id):
                    missing.add(event.originator_id.hex)
            if missing:
                self._look_up(table, column, missing)

    def _look_up(self, table: Any, column: str, aggregate_ids: set[str]) -> None:
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(table.c.aggregate_id, table.c[column]).where(
                    table.c.aggregate_id.in_(sorted(aggregate_ids))
                )
            )
            for aggregate_id, business_id in rows:
                self.names.learn(UUID(hex=aggregate_id), business_id)


def without_flush_wait(conn: Connection) -> None:
    """This transaction's commit does not wait for its WAL to reach the disk (PostgreSQL).

    For a rebuild's pages only, which nobody waits for one by one: a page's rows and its
    tracking position are still one transaction, so a server crash can lose only whole
    pages at the end, position with rows, and the rebuild (resumable, from the durable
    log) redoes them. Each of a 1M-event rebuild's 500 pages waited for its own flush
    on a disk shared with other writers. A follower's pages keep the flush: a query on a
    standby waits for exactly those commits."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _hex_of(value: Any) -> str:
    # PostgreSQL's text of a uuid is the canonical lower-case one: its hex less the dashes.
    return value.hex if isinstance(value, UUID) else str(value).replace("-", "")


def _check_time(
    started: float, timeout: float | None, position: Callable[[], int], target: int
) -> None:
    if timeout is None:
        return
    elapsed = time.monotonic() - started
    if elapsed <= timeout:
        return
    reached = position()
    if reached < target:
        raise ProjectionLagging(
            _retry_after(elapsed, reached, target),
            f"projections are at position {reached}, the log at {target}",
        )


def _retry_after(elapsed: float, position: int, target: int) -> int:
    # Seconds to go at the rate seen so far, within [1, MAX_RETRY_AFTER].
    remaining = max(target - position, 1)
    rate = max(position, 1) / max(elapsed, 0.001)
    return max(1, min(MAX_RETRY_AFTER, math.ceil(remaining / rate)))


# --- following the log and rebuilding ---------------------------------------------------


@dataclass(frozen=True)
class Status:
    """Where one projection stands: its tracking position and how far behind the log it is."""

    name: str
    position: int | None
    head: int
    ruleset_version: str | None = None
    rebuilding: bool = False
    owner: int | None = None
    """The server pid of the worker session that owns the view (PostgreSQL), if any."""

    @property
    def lag(self) -> int:
        return self.head - (self.position or 0)


def follow(
    app: LedgerApplication, page: int = DEFAULT_PAGE, facts: FactsProjection | None = None
) -> int:
    """Brings the facts and the live figures up to the head once; returns the position."""
    facts = facts or FactsProjection(app, page)
    position = facts.catch_up()
    FigureView(facts.engine, LIVE).follow(position)
    return position


def run_forever(
    app: LedgerApplication, page: int = DEFAULT_PAGE, poll_seconds: float = 0.5,
    should_stop: Callable[[], bool] = lambda: False,
    coordinators: Callable[[str], Coordinator] | None = None,
) -> None:
    """The worker loop of `ledger projections run`: follow the log until told to stop.

    Each view (the facts, the live figures) has a thread of its own, which applies the view
    only while this worker owns it (persistence.coordination: an advisory lock per view on
    PostgreSQL, each thread on a session of its own); a worker that owns nothing waits and
    takes a view over when its owner dies. Caught up, a thread sleeps until the next
    append's NOTIFY, or `poll_seconds` at most (the fallback, and SQLite's only way). One
    view's work never delays the other's: recomputing figures does not hold back the facts
    a query waits for. An error in either thread stops both and is raised here.
    """
    make = coordinators or (lambda view: coordinator_for(projection_url(app), view))
    facts = FactsProjection(app, page)
    watcher = FactsProjection(app, page)  # the live thread's view of the facts' position
    live = FigureView(facts.engine, LIVE)
    steps: dict[str, Callable[[], bool]] = {
        FACTS: lambda: _facts_step(facts),
        live.tracking: lambda: _live_step(watcher, live),
    }
    halt = threading.Event()
    failures: list[BaseException] = []

    def follow_view(view: str, step: Callable[[], bool]) -> None:
        coordinator = make(view)
        try:
            while not (halt.is_set() or should_stop()):
                if not (coordinator.owns(view) and _healing(view, step)):
                    coordinator.wait(poll_seconds)
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            failures.append(error)
            halt.set()
        finally:
            coordinator.close()

    threads = [threading.Thread(target=follow_view, args=item, name=f"follow {item[0]}",
                                daemon=True) for item in steps.items()]
    for thread in threads:
        thread.start()
    try:
        while any(thread.is_alive() for thread in threads):
            threads[0].join(timeout=0.5)
    finally:
        halt.set()
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]


def _healing(view: str, step: Callable[[], bool]) -> bool:
    """One step; a database that is away (restarting, failing over) is waited out, not
    fatal: the step's transaction rolled back, and the next try starts from the tracking
    row again."""
    try:
        return step()
    except (PersistenceError, SQLAlchemyError) as error:
        log.warning("projection %s: the database is away (%s); trying again", view,
                    str(error).strip().splitlines()[0] if str(error).strip() else type(error))
        return False


def _facts_step(facts: FactsProjection) -> bool:
    """Applies up to STEP_PAGES pages; True when the facts moved. Bounded, so that a stop
    request and a lost lock are noticed between steps even in a long catch-up."""
    before = facts.position()
    return facts.catch_up(until=min(facts.head(), before + STEP_PAGES * facts.page)) != before


def _live_step(facts: FactsProjection, live: FigureView) -> bool:
    """The figures follow whatever the facts' owner (maybe another worker) committed, once
    the facts are within a page of the head: recomputing the touched managers at every page
    of a long catch-up would redo the same work many times over."""
    target = facts.position()
    with reading(facts.engine) as conn:
        at = tracked(conn, live.tracking)
    if (at is not None and at >= target) or facts.head() - target > facts.page:
        return False
    live.follow(target)
    return True


def rebuild_live(
    app: LedgerApplication, page: int = DEFAULT_PAGE,
    progress: Callable[[str, int], Progress] | None = None,
) -> int:
    """Empties and replays the facts, then recomputes the live figures; resumable."""
    facts = FactsProjection(app, page)
    facts.flush_each_page = False
    mark = REBUILD_MARK + LIVE
    _begin_rebuild(facts.engine, mark, _empty_facts_and_live)
    head = facts.head()
    start = facts.position()
    bar = progress("events", head - start) if progress else _no_progress
    position = facts.catch_up(until=head, progress=bar)
    view = FigureView(facts.engine, LIVE, sweepers=SWEEPERS)
    view.sweep(position, progress("managers", view.manager_count(position)) if progress else None)
    _end_rebuild(facts.engine, mark)
    return position


def rebuild_shadow(
    app: LedgerApplication, name: str, version: str | None, page: int = DEFAULT_PAGE,
    progress: Callable[[str, int], Progress] | None = None,
) -> int:
    """Fills view `name` under rule set `version` (None: the rule set in force per period).

    Only that view's rows and tracking are written. The facts are brought up to the head
    first (the same exactly-once processing the worker does), so the shadow reflects every
    event the live view does.
    """
    if name == LIVE:
        raise ValueError("the live view is rebuilt without --shadow")
    facts = FactsProjection(app, page)
    position = facts.catch_up()
    view = FigureView(facts.engine, name, version, sweepers=SWEEPERS)
    mark = REBUILD_MARK + name
    # Resume only the same request; another rule set for the same name starts over.
    fresh = not view.is_defined_as(version)
    _begin_rebuild(facts.engine, mark, view.empty, restart=fresh)
    view.define()
    view.sweep(position, progress("managers", view.manager_count(position)) if progress else None)
    _end_rebuild(facts.engine, mark)
    return position


def _begin_rebuild(
    engine: Engine, mark: str, empty: Callable[[Connection], None], restart: bool = False
) -> None:
    """Empties the view once; a rerun after an interruption finds the mark and resumes.

    Claiming the mark is the first statement, so two rebuilds starting together empty
    the view once; `empty` forgets the tracking rows before it deletes any row (see there).
    """
    with writing(engine) as conn:
        if restart:
            forget(conn, mark)
        if ensure_tracking(conn, mark):
            empty(conn)


def _end_rebuild(engine: Engine, mark: str) -> None:
    with writing(engine) as conn:
        forget(conn, mark)


def _empty_facts_and_live(conn: Connection) -> None:
    # Tracking rows first: deleting them waits for any processor that holds them in a
    # batch (its compare-and-set locks the row), so the rows deleted next include that
    # batch's; a processor arriving later finds no row to advance and rolls back.
    forget(conn, FACTS)
    FigureView.empty_view(conn, LIVE)
    for table in t.FACT_TABLES:
        conn.execute(delete(table))


def lag(app: LedgerApplication) -> dict[str, int]:
    """Events each projection is behind the log's head: for the projection-lag metric."""
    return {row.name: row.lag for row in status(app)}


def status(app: LedgerApplication) -> list[Status]:
    """Position, lag and owning worker of the facts and of every figure view."""
    engine = engine_for(app)
    head = int(app.recorder.max_notification_id() or 0)
    with reading(engine) as conn:
        marks = tracking_rows(conn, REBUILD_MARK)
        defined = {row.view_name: row.ruleset_version for row in conn.execute(select(t.views))}
        positions = {FACTS: tracked(conn, FACTS)}
        held = owners(conn, [FACTS, FigureView.tracking_name(LIVE)])
        for name in sorted(defined.keys() | {LIVE}):
            positions[FigureView.tracking_name(name)] = tracked(
                conn, FigureView.tracking_name(name)
            )
    facts_rebuilding = REBUILD_MARK + LIVE in marks
    found = [Status(FACTS, positions[FACTS], head, rebuilding=facts_rebuilding,
                    owner=held.get(FACTS))]
    for name in sorted(defined.keys() | {LIVE}):
        tracking = FigureView.tracking_name(name)
        found.append(Status(
            tracking, positions[tracking], head, ruleset_version=defined.get(name),
            rebuilding=REBUILD_MARK + name in marks, owner=held.get(tracking),
        ))
    return found + _replica_status(app, head)


def _replica_status(app: LedgerApplication, head: int) -> list[Status]:
    """With LEDGER_READ_DATABASE_URL, the facts as the standby has replayed them: the lag
    queries there wait out (the primary's rows above, plus replication)."""
    if not app.env.get(READ_URL):
        return []
    with reading(read_engine_for(app)) as conn:
        return [Status(FACTS + REPLICA_SUFFIX, tracked(conn, FACTS), head)]


def checksums(app: LedgerApplication) -> dict[str, str]:
    """A SHA-256 of every read-model table's rows, in key order (to compare two builds)."""
    engine = engine_for(app)
    sums = {}
    with reading(engine) as conn:
        for table in t.FACT_TABLES + t.VIEW_TABLES:
            digest = hashlib.sha256()
            keys = list(table.primary_key.columns)
            for row in conn.execute(select(table).order_by(*keys)):
                digest.update(repr(tuple(_canonical(v) for v in row)).encode())
            sums[table.name] = digest.hexdigest()
        count = conn.execute(select(func.count()).select_from(t.figures)).scalar()
    sums["rm_figures.rows"] = str(count)
    return sums


def _canonical(value: Any) -> Any:
    # NUMERIC may come back as 7250.00 or 7250 depending on how it was written; compare values.
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value
