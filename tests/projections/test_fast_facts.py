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

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.persistence import Notification
from sqlalchemy import delete, select

from ledger.application import LedgerApplication
from ledger.demo import load_demo
from ledger.manager import Manager
from projections import facts, runner
from projections import tables as t
from projections.database import projection_engine_for, reading, writing
from projections.facts import TOPICS, Names, Recorded, facts_of
from projections.runner import FactsProjection
from projections.writer import insert_facts, write_facts

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


def _fast_rows(app: LedgerApplication, log: Sequence[Notification]) -> Rows:
    projection = FactsProjection(app)
    return {table: [dict(r) for r in batch] for table, batch in projection._rows(log).items()}


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
            assert isinstance(projection._event(notification), Recorded), notification.topic
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
    assert older and not any(isinstance(projection._event(n), Recorded) for n in older)
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


def _stored(app: LedgerApplication, write: Any) -> dict[str, list[tuple[Any, ...]]]:
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
        fast, core = _stored(app, write_facts), _stored(app, insert_facts)
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
    monkeypatch.setattr(runner, "write_facts", insert_facts)
    monkeypatch.setattr(FactsProjection, "_event",
                        lambda self, n: self.app.mapper.to_domain_event(n))
    runner.rebuild_live(app, page=7)
    assert runner.checksums(app) == fast
