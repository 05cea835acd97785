"""The kept rule book (ledger/rulebook.py KeptRuleBook): replayed once per process, and
still current after a draft or a publication by this process or another one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from dbsupport import fresh_sqlite_url, postgres_service_url, reset_postgres

from ledger import ids
from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from ledger.ruleset_document import default_document
from persistence.url import environment_for

OPERATOR = AuditContext(actor="op-1", role="operator", request_id="req-kept-book")
IN_Q2 = date(2026, 5, 4)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return fresh_sqlite_url()
    reset_postgres()
    return postgres_service_url()


@pytest.fixture
def two_processes(url: str) -> Iterator[tuple[LedgerApplication, LedgerApplication]]:
    """Two applications on one log, as two workers (or the CLI beside a worker) are."""
    first = LedgerApplication(env=environment_for(url))
    first.ensure_rulebook()
    second = LedgerApplication(env=environment_for(url))
    yield first, second
    first.close()
    second.close()


def count_replays(app: LedgerApplication, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    replays: list[int] = []
    get: Callable[..., Any] = app.repository.get

    def counting(aggregate_id: Any, *args: Any, **kwargs: Any) -> Any:
        if aggregate_id == ids.rulebook_id():
            replays.append(1)
        return get(aggregate_id, *args, **kwargs)

    monkeypatch.setattr(app.repository, "get", counting)
    return replays


def publish_q2_rules(app: LedgerApplication) -> None:
    document = default_document() | {"version": "2026.2", "effective_from": "2026-04-01"}
    with acting_as(OPERATOR):
        app.draft_ruleset(document)
        app.publish_ruleset("2026.2")


def test_the_rule_book_is_replayed_once_while_nothing_changes(
    two_processes: tuple[LedgerApplication, LedgerApplication],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, _ = two_processes
    replays = count_replays(app, monkeypatch)
    for _ in range(5):
        assert app.ruleset_for_day(IN_Q2).version == "2026.1"
        assert app.ruleset("2026.1").version == "2026.1"
    assert len(replays) == 1


def test_a_publication_by_another_process_is_in_force_at_the_next_command(
    two_processes: tuple[LedgerApplication, LedgerApplication],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker, operator = two_processes
    assert worker.ruleset_for_day(IN_Q2).version == "2026.1"
    replays = count_replays(worker, monkeypatch)
    publish_q2_rules(operator)
    assert worker.ruleset_for_day(IN_Q2).version == "2026.2"
    assert worker.ruleset_for_day(date(2026, 2, 2)).version == "2026.1"
    assert worker.ruleset("2026.2").effective_from == date(2026, 4, 1)
    assert len(replays) == 1  # the book is replayed again once, then kept


def test_a_publication_by_this_process_is_in_force_at_once(
    two_processes: tuple[LedgerApplication, LedgerApplication],
) -> None:
    app, _ = two_processes
    assert app.ruleset_for_day(IN_Q2).version == "2026.1"
    publish_q2_rules(app)
    assert app.ruleset_for_day(IN_Q2).version == "2026.2"


def count_probes(app: LedgerApplication, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    probes: list[int] = []
    probe: Callable[[int], bool] = app._kept_book._has_events_after

    def counting(version: int) -> bool:
        probes.append(version)
        return probe(version)

    monkeypatch.setattr(app._kept_book, "_has_events_after", counting)
    return probes


def test_one_command_and_its_answer_probe_the_book_once(
    two_processes: tuple[LedgerApplication, LedgerApplication],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, _ = two_processes
    app.ruleset_for_day(IN_Q2)  # the book kept
    probes = count_probes(app, monkeypatch)
    with app.one_rulebook_probe():
        for _ in range(3):
            assert app.ruleset_for_day(IN_Q2).version == "2026.1"
    assert len(probes) == 1
    app.ruleset_for_day(IN_Q2)  # outside a command each question probes again
    assert len(probes) == 2


def test_a_publication_by_another_process_is_seen_by_the_next_command(
    two_processes: tuple[LedgerApplication, LedgerApplication],
) -> None:
    worker, operator = two_processes
    with worker.one_rulebook_probe():
        assert worker.ruleset_for_day(IN_Q2).version == "2026.1"
        publish_q2_rules(operator)
        # Within the command the book it chose by stays: its answer describes that choice.
        assert worker.ruleset_for_day(IN_Q2).version == "2026.1"
    with worker.one_rulebook_probe():
        assert worker.ruleset_for_day(IN_Q2).version == "2026.2"


def test_a_publication_inside_a_command_drops_the_book_it_held(
    two_processes: tuple[LedgerApplication, LedgerApplication],
) -> None:
    app, _ = two_processes
    with app.one_rulebook_probe():
        assert app.ruleset_for_day(IN_Q2).version == "2026.1"
        publish_q2_rules(app)
        assert app.ruleset_for_day(IN_Q2).version == "2026.2"
