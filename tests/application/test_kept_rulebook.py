"""The kept rule book (ledger/rulebook.py KeptRuleBook): replayed once per process, and
still current after a draft or a publication by this process or another one; a command
judged by it is proved by its append (or one probe), else judged again."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from dbsupport import fresh_sqlite_url, postgres_service_url, reset_postgres

from ledger import ids
from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from ledger.errors import Conflict
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


def register_m1(app: LedgerApplication) -> None:
    with acting_as(OPERATOR):
        app.register_manager(business_id="M1", name="Li Wei", grade="B", unit="Branch 1")


def record_in_q2(app: LedgerApplication, rule_code: str = "E3") -> Any:
    with acting_as(OPERATOR):
        return app.record_deduction(
            manager_id="M1", rule_code=rule_code, occurrences=1, aggravated=False,
            effective_on=IN_Q2, description="found in review").value


def test_a_command_that_appends_is_proved_by_its_append_not_a_probe(
    two_processes: tuple[LedgerApplication, LedgerApplication],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, _ = two_processes
    register_m1(app)
    app.ruleset_for_day(IN_Q2)  # the book kept
    probes = count_probes(app, monkeypatch)
    deduction = app.judged(lambda: record_in_q2(app))
    assert deduction.ruleset_version == "2026.1"
    assert probes == []  # its append read the book's version under the lock
    app.ruleset_for_day(IN_Q2)  # outside a command each question probes
    assert len(probes) == 1


def test_a_command_that_appends_nothing_probes_the_book_once(
    two_processes: tuple[LedgerApplication, LedgerApplication],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, _ = two_processes
    app.ruleset_for_day(IN_Q2)
    probes = count_probes(app, monkeypatch)

    def three_questions() -> list[str]:
        return [app.ruleset_for_day(IN_Q2).version for _ in range(3)]

    assert app.judged(three_questions) == ["2026.1"] * 3
    assert len(probes) == 1


def test_a_command_judged_by_an_outdated_book_runs_again_and_appends_once(
    two_processes: tuple[LedgerApplication, LedgerApplication],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker, operator = two_processes
    register_m1(worker)
    worker.ruleset_for_day(IN_Q2)  # the book kept at 2026.1
    judge = worker.ruleset_for_day
    published: list[str] = []

    def judging_then_publication(day: date) -> Any:
        rules = judge(day)
        if not published:  # another process publishes between judging and appending
            publish_q2_rules(operator)
            published.append("2026.2")
        return rules

    monkeypatch.setattr(worker, "ruleset_for_day", judging_then_publication)
    head = worker.recorder.max_notification_id()
    attempts: list[int] = []

    def command() -> Any:
        attempts.append(1)
        return record_in_q2(worker)

    deduction = worker.judged(command)
    assert len(attempts) == 2
    assert deduction.ruleset_version == "2026.2"
    # The operator's two events and the one deduction; the first attempt wrote nothing.
    assert worker.recorder.max_notification_id() == (head or 0) + 3
    assert worker.deduction(deduction.id).ruleset_version == "2026.2"


def test_a_refusal_by_an_outdated_book_is_judged_again(
    two_processes: tuple[LedgerApplication, LedgerApplication],
) -> None:
    worker, operator = two_processes
    register_m1(worker)
    worker.ruleset_for_day(IN_Q2)  # the book kept at 2026.1, which has no rule Z9
    document = default_document() | {"version": "2026.2", "effective_from": "2026-04-01"}
    document["deductions"] = {**document["deductions"],
                              "Z9": {**document["deductions"]["E3"], "title": "New in Q2"}}
    with acting_as(OPERATOR):
        operator.draft_ruleset(document)
        operator.publish_ruleset("2026.2")
    deduction = worker.judged(lambda: record_in_q2(worker, "Z9"))
    assert (deduction.rule_code, deduction.ruleset_version) == ("Z9", "2026.2")


def test_a_book_that_moves_at_every_attempt_is_a_conflict(
    two_processes: tuple[LedgerApplication, LedgerApplication],
) -> None:
    worker, operator = two_processes
    worker.ruleset_for_day(IN_Q2)
    versions = iter(range(2, 10))

    def read_while_another_process_publishes() -> str:
        version = worker.ruleset_for_day(IN_Q2).version
        document = default_document() | {"version": f"2026.{next(versions)}",
                                          "effective_from": "2026-04-01"}
        with acting_as(OPERATOR):
            operator.draft_ruleset(document)
        return version

    with pytest.raises(Conflict, match="rule book changed"):
        worker.judged(read_while_another_process_publishes)


def test_a_publication_by_another_process_is_seen_by_the_next_command(
    two_processes: tuple[LedgerApplication, LedgerApplication],
) -> None:
    worker, operator = two_processes
    assert worker.judged(lambda: worker.ruleset_for_day(IN_Q2).version) == "2026.1"
    publish_q2_rules(operator)
    assert worker.judged(lambda: worker.ruleset_for_day(IN_Q2).version) == "2026.2"


def test_a_publication_inside_a_command_drops_the_book_it_held(
    two_processes: tuple[LedgerApplication, LedgerApplication],
) -> None:
    app, _ = two_processes

    def publish_and_read() -> tuple[str, str]:
        before = app.ruleset_for_day(IN_Q2).version
        publish_q2_rules(app)
        return before, app.ruleset_for_day(IN_Q2).version

    assert app.judged(publish_and_read) == ("2026.1", "2026.2")
