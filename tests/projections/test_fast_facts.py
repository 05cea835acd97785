"""The rebuild's fast path (issue 18): facts straight from the stored state, written by COPY
(PostgreSQL) or executemany (SQLite), give exactly what the domain path and a Core insert
give, on both back ends.

The domain path (the library's mapper, then `facts_of` over domain events) is the
reference: for every event the demo bank and the worked example record, both paths must
yield the same rows with the same Python types; state recorded by an older class version
must go through the domain path, where it is upcast; and the rows the fast writer stores
must read back equal to those a Core `insert()` stores, escapes and odd text included.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.persistence import Notification
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import psycopg2 as psycopg2_dialect

from ledger.application import LedgerApplication
from ledger.demo import load_demo
from ledger.manager import Manager
from projections import facts, runner, writer
from projections import tables as t
from projections.database import projection_engine_for, reading, writing
from projections.facts import TOPICS, Names, Recorded, facts_of
from projections.runner import FactsProjection
from projections.writer import insert_facts, posting_line, write_facts

Rows = dict[str, list[dict[str, Any]]]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def app(request: pytest.FixtureRequest) -> LedgerApplication:
    """A fresh ledger on each back end (the conftest's `sqlite_ledger`, `postgres_ledger`)."""
    ledger: LedgerApplication = request.getfixturevalue(f"{request.param}_ledger")
    return ledger


@pytest.fixture
def demo_bank(app: LedgerApplication) -> Iterator[LedgerApplication]:
    load_demo(app)
    yield app
    app.close()


@pytest.fixture
def worked_example(example: Any) -> Iterator[LedgerApplication]:
    example.all_steps()
    example.draft_retroactive()
    example.publish()
    yield example.app
    example.app.close()


def _log(app: LedgerApplication) -> Sequence[Notification]:
    return app.recorder.select_notifications(0, 100_000, inclusive_of_start=False)


def _typed(rows: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, list[Any]]:
    # Equal values of different types (Decimal 5 and int 5, a date and its text) must not pass.
    return {table: [sorted((k, type(v).__name__, v) for k, v in row.items()) for row in batch]
            for table, batch in rows.items() if batch}


def _domain_rows(app: LedgerApplication, log: Sequence[Notification]) -> Rows:
    events = [(n.id, app.mapper.to_domain_event(n)) for n in log if n.topic in TOPICS]
    rows: Rows = defaultdict(list)
    for fact in facts_of(events, Names()):
        rows[fact.table].append(dict(fact.values))
    return rows


def _stored(n: Notification) -> runner.Stored:
    return (n.id, n.originator_id, n.originator_version, n.topic, n.state)


def _fast_rows(app: LedgerApplication, log: Sequence[Notification]) -> Rows:
    projection = FactsProjection(app)
    projection._posting_lines = False  # rows to compare; the lines are held equal below
    rows, _ = projection._rows([_stored(n) for n in log])
    return {table: [dict(r) for r in batch] for table, batch in rows.items()}


def test_the_fast_path_gives_the_domain_paths_rows_for_the_demo_bank(
    demo_bank: LedgerApplication,
) -> None:
    _assert_both_paths_agree(demo_bank)


def test_the_fast_path_gives_the_domain_paths_rows_for_the_worked_example(
    worked_example: LedgerApplication,
) -> None:
    _assert_both_paths_agree(worked_example)


def _assert_both_paths_agree(app: LedgerApplication) -> None:
    log = _log(app)
    projection = FactsProjection(app)
    topics = {n.topic for n in log if n.topic in TOPICS}
    assert len(topics) >= 8, topics  # registrations, holdings, postings, deductions, ...
    # Every such event is read without its domain object: the fast path is really taken.
    for notification in log:
        if notification.topic in TOPICS:
            assert isinstance(projection._event(_stored(notification)), Recorded), \
                notification.topic
    fast, domain = _typed(_fast_rows(app, log)), _typed(_domain_rows(app, log))
    assert fast == domain
    assert sum(len(batch) for batch in fast.values()) >= len(topics)


def test_state_of_an_older_class_version_is_upcast_on_the_domain_path(
    sqlite_ledger: LedgerApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = sqlite_ledger
    load_demo(app)
    registered = Manager.Registered
    topic = facts.get_topic(registered)

    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["name"] = state["name"].upper()

    # As if Manager.Registered were now at version 2: every stored one is at version 1.
    monkeypatch.setattr(registered, "class_version", 2, raising=False)
    monkeypatch.setattr(registered, "upcast_v1_v2", staticmethod(upcast_v1_v2), raising=False)
    monkeypatch.setitem(facts.CLASS_VERSIONS, topic, 2)
    log = _log(app)
    projection = FactsProjection(app)
    older = [n for n in log if n.topic == topic]
    assert older and not any(isinstance(projection._event(_stored(n)), Recorded)
                             for n in older)
    fast = _fast_rows(app, log)
    assert {row["name"] for row in fast["rm_managers"]} == {
        row["name"] for row in _domain_rows(app, log)["rm_managers"]
    }
    assert all(row["name"].isupper() for row in fast["rm_managers"])


ODD = "tab\there, line\nbreak, cr\r, back\\slash \\N, NUL\x00, surrogate \ud800, é"
"""Text COPY must escape, and characters StoredText replaces, in one value."""


def _odd_rows() -> dict[str, list[dict[str, Any]]]:
    return {
        "rm_managers": [
            dict(manager_id="M\\1", aggregate_id="a" * 32, name=ODD, unit="", position=1),
            dict(manager_id="M2", aggregate_id="b" * 32, name="\\N", unit="U", position=2),
        ],
        "rm_customers": [dict(
            customer_id="C1", aggregate_id="c" * 32, name="x", customer_class="good",
            industry="i", chain=None, group_name="g\t1",
            last_year_contribution=Decimal("1.5E+3"), position=3,
        )],
        "rm_grades": [dict(manager_id="M2", position=2, effective_on=date(1, 1, 1), grade="B")],
        "rm_deductions": [dict(
            deduction_id="d" * 32, manager_id="M2", rule_code="S3", occurrences=2,
            aggravated=True, disqualify=False, effective_on=date(2026, 2, 28),
            points_per_occurrence=5, ruleset_version="2026.1", customer_id=None,
            description="two\nlines", position=4,
        )],
        "rm_targets": [dict(manager_id="M2", period="2026Q1", position=5,
                            incremental=Decimal("0.000001"))],
    }


def _stored_rows(app: LedgerApplication, write: Any) -> dict[str, list[tuple[Any, ...]]]:
    engine = projection_engine_for(app)
    with writing(engine) as conn:
        write(conn, _odd_rows())
    with reading(engine) as conn:
        found = {table.name: [tuple(row) for row in conn.execute(
            select(table).order_by(*table.primary_key.columns))]
            for table in t.FACT_TABLES if table.name in _odd_rows()}
    with writing(engine) as conn:
        for table in t.FACT_TABLES:
            conn.execute(delete(table))
    return found


def test_the_fast_writer_stores_what_a_core_insert_stores(app: LedgerApplication) -> None:
    try:
        fast, core = _stored_rows(app, write_facts), _stored_rows(app, insert_facts)
    finally:
        app.close()
    assert fast == core
    names = {row[0]: row[2] for row in fast["rm_managers"]}
    # NUL and the surrogate were replaced (StoredText), the rest kept as it was.
    assert names["M\\1"] == ODD.replace("\x00", "\ufffd").replace("\ud800", "\ufffd")
    assert names["M2"] == "\\N"
    assert len(fast["rm_customers"]) == 1 and fast["rm_customers"][0][5] is None


def test_a_rebuild_through_the_fast_writer_matches_one_through_core_inserts(
    demo_bank: LedgerApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = demo_bank
    runner.rebuild_live(app, page=7)
    fast = runner.checksums(app)
    monkeypatch.setattr(runner, "write_facts", lambda conn, rows, lines: (
        insert_facts(conn, rows) if not lines else pytest.fail("a COPY line was made")))
    monkeypatch.setattr(FactsProjection, "_event", lambda self, stored: (
        self.app.mapper.to_domain_event(Notification(
            id=stored[0], originator_id=runner._uuid(stored[1]), originator_version=stored[2],
            topic=stored[3], state=bytes(stored[4])))))
    monkeypatch.setattr(runner, "posting_line", lambda *args: None)
    runner.rebuild_live(app, page=7)
    assert runner.checksums(app) == fast


# --- a posting's COPY line straight from its JSON (writer.posting_line) -------------------

POSTGRES = psycopg2_dialect.dialect()  # type: ignore[no-untyped-call]


def _typed_line(projection: FactsProjection, stored: runner.Stored) -> str | None:
    """The typed way's line: the event read as `Recorded` (or the domain event), its fact
    row, that row through the psycopg2 writer's processors; None when that way fails."""
    try:
        (fact,) = facts.contribution_posted(projection._event(stored), stored[0], Names())
        return writer._writer(t.contributions, POSTGRES).copy_line(fact.values)
    except (TypeError, ValueError, ArithmeticError, KeyError):
        return None


def _posting_line(stored: runner.Stored) -> str | None:
    return posting_line(str(stored[4], "utf8"), runner._hex_of(stored[1]), stored[0],
                        facts.CLASS_VERSIONS[facts.POSTED])


def test_a_postings_line_from_its_json_is_the_typed_ways_line(
    demo_bank: LedgerApplication,
) -> None:
    projection = FactsProjection(demo_bank)
    postings = [_stored(n) for n in _log(demo_bank) if n.topic == facts.POSTED]
    assert postings
    for stored in postings:
        line = _posting_line(stored)
        assert line is not None  # the straight way is really taken
        assert line == _typed_line(projection, stored)


def _odd_states(state: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The same posting's state with each field as an older or odder event might hold it."""
    def money(text: str) -> dict[str, str]:
        return {"_type_": "decimal_str", "_data_": text}

    changes: list[dict[str, Any]] = [
        {"customer_id": "C\t1\\N\n"}, {"customer_id": "Ç1"}, {"external_id": "x\x00y"},
        {"source_system": "s\ud800"}, {"customer_id": 7}, {"customer_id": None},
        {"interest_income": money("1E+3")}, {"deposit_earnings": money("-0.00")},
        {"fee_income": money("0.0000001")}, {"risk_cost": money("12.50")},
        {"risk_cost": money("NaN")}, {"risk_cost": money("x")}, {"interest_income": 5},
        {"interest_income": {"_type_": "decimal_str", "_data_": 5}},
        {"booked_on": {"_type_": "date_iso", "_data_": "20260215"}},
        {"booked_on": {"_type_": "datetime_iso", "_data_": "2026-02-15T10:00:00+00:00"}},
        {"booked_on": "2026-02-15"}, {"class_version": 1}, {"class_version": 2},
        {"fee_income": {"_type_": "decimal_str", "_data_": "1", "more": 1}},
    ]
    for change in changes:
        yield {**state, **change}
    yield {k: v for k, v in state.items() if k != "risk_cost"}


def test_a_postings_line_from_odd_json_is_the_typed_ways_or_left_to_it(
    demo_bank: LedgerApplication,
) -> None:
    projection = FactsProjection(demo_bank)
    first = next(_stored(n) for n in _log(demo_bank) if n.topic == facts.POSTED)
    straight = 0
    for state in _odd_states(json.loads(bytes(first[4]))):
        stored = (first[0], first[1], first[2], first[3],
                  json.dumps(state).encode("utf8", "surrogatepass"))
        line = _posting_line(stored)
        if line is not None:
            straight += 1
            assert line == _typed_line(projection, stored), state
    assert straight >= 6  # escapes and exponents go straight; the rest is left to the typed way
