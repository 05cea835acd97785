"""Scenario: the figures of DESIGN §4 through the projections, on SQLite and on PostgreSQL.

Each test catches the projections up (or lets a query do it), asserts the figures, and
where it says so wipes and rebuilds them and asserts the same figures again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from ledger.errors import NotFound
from projections import materialised, runner, tables
from projections.database import engine_for, reading, tracked
from projections.materialised import LIVE, diff, figure_of
from projections.read_side import ProjectionLagging, ReadSide
from projections.runner import FactsProjection

SUPERVISOR = AuditContext(actor="sup-1", role="supervisor", request_id="req-1")
APPROVER = AuditContext(actor="appr-1", role="approver", request_id="req-6")
PAY_BEFORE_DECISION = Decimal("32365.00")
PAY_AFTER_DECISION = Decimal("33815.00")


def score_and_pay(figures: ReadSide, **cut: Any) -> tuple[int, Decimal]:
    return (
        figures.score("M1", "2026Q1", **cut)["score"],
        figures.pay("M1", "2026Q1", **cut)["actual_pay"],
    )


def live_rows(app: LedgerApplication) -> list[tuple[Any, ...]]:
    with reading(engine_for(app)) as conn:
        return [tuple(r) for r in conn.execute(
            select(tables.figures).where(tables.figures.c.view_name == LIVE)
            .order_by(tables.figures.c.manager_id, tables.figures.c.period)
        )]


def _live_position(app: LedgerApplication) -> int | None:
    with reading(engine_for(app)) as conn:
        return tracked(conn, "figures:live")


class SQLiteScenario:
    """Every scenario on a fresh SQLite file; subclassed for PostgreSQL."""

    @pytest.fixture
    def app(self, sqlite_ledger: LedgerApplication) -> LedgerApplication:
        return sqlite_ledger

    def test_the_worked_example_is_exact_after_each_step(
        self, app: LedgerApplication, example: Any
    ) -> None:
        figures = ReadSide(app)

        # Portfolio and target: the stock task is 187500, the target 237500, nothing earned yet.
        example.register()
        pay = figures.pay("M1", "2026Q1")
        assert (pay["stock_task"], pay["target"], pay["actual"]) == (
            Decimal("187500.00"), Decimal("237500.00"), Decimal("0.00")
        )
        assert pay["score"] == 1000 and pay["ruleset_version"] == "2026.1"

        # Contributions of 250000: performance pay 7250.00 at a full score.
        example.post_contributions()
        pay = figures.pay("M1", "2026Q1")
        assert (pay["actual"], pay["performance_pay"]) == (Decimal("250000.00"), Decimal("7250.00"))
        assert pay["actual_pay"] == Decimal("34250.00")

        # B1, C7, S3: 26 error points, score 740, pay 32365.00.
        example.record_deductions()
        score = figures.score("M1", "2026Q1")
        assert (score["score"], score["error_points"], score["rating"]) == (740, 26, "satisfactory")
        assert score_and_pay(figures) == (740, PAY_BEFORE_DECISION)

        # The dispute is open: a pending dispute still counts under 2026.1.
        example.dispute_s3()
        assert score_and_pay(figures) == (740, PAY_BEFORE_DECISION)

        # Upheld: S3 is voided, score 940, pay 33815.00 ...
        example.uphold()
        assert score_and_pay(figures) == (940, PAY_AFTER_DECISION)
        # ... but as known before the decision, still 740 / 32365.00.
        assert score_and_pay(figures, known_at=example.known_before("decided")) == (
            740, PAY_BEFORE_DECISION
        )

    def test_answers_echo_both_cuts_and_the_rule_set(
        self, app: LedgerApplication, example: Any
    ) -> None:
        example.all_steps()
        known_at = example.known_before("decided")
        score = ReadSide(app).score("M1", "2026Q1", as_of=date(2026, 3, 31), known_at=known_at)
        assert (score["as_of"], score["known_at"], score["ruleset_version"]) == (
            date(2026, 3, 31), known_at, "2026.1"
        )

    def test_as_of_a_business_date_before_the_deductions_counts_none_of_them(
        self, app: LedgerApplication, example: Any
    ) -> None:
        example.all_steps()
        figures = ReadSide(app)
        assert figures.score("M1", "2026Q1", as_of=date(2026, 1, 31))["score"] == 1000
        # Postings booked 2026-02-15 are not earned yet on 2026-02-14.
        assert figures.pay("M1", "2026Q1", as_of=date(2026, 2, 14))["actual"] == Decimal("0.00")

    def test_a_query_answers_with_every_acknowledged_event_without_a_worker(
        self, app: LedgerApplication, example: Any
    ) -> None:
        figures = ReadSide(app)
        example.register()
        assert figures.pay("M1", "2026Q1")["target"] == Decimal("237500.00")
        example.record_deductions()
        # No catch_up call: the query brings the facts up to the head itself.
        assert figures.score("M1", "2026Q1")["score"] == 740

    def test_a_projection_that_cannot_reach_the_head_in_time_says_so(
        self, app: LedgerApplication, example: Any
    ) -> None:
        example.all_steps()
        with pytest.raises(ProjectionLagging) as lagging:
            FactsProjection(app, page=1).catch_up(timeout=0.0)
        assert lagging.value.retry_after >= 1

    def test_the_explanation_adds_up_to_the_score_and_names_its_events(
        self, app: LedgerApplication, example: Any
    ) -> None:
        example.all_steps()
        answer = ReadSide(app).score("M1", "2026Q1", explain=True)
        lines = answer["explanation"]["lines"]
        assert 1000 + sum(line["effect"] for line in lines) == answer["score"] == 940
        assert [(line["rule_code"], line["effect"]) for line in lines] == [
            ("B1", -10), ("C7", -50), ("S3", 0)
        ]
        s3 = lines[2]
        assert s3["status"] == "voided"
        assert s3["status_position"] == example.receipts["decided"].events[1].position
        assert s3["position"] == example.receipts["S3"].events[0].position
        parameters = answer["explanation"]["parameters"]
        assert parameters["score.points_to_score"] == 10
        assert parameters["deductions.S3.points"] == 20

    def test_the_pay_explanation_lists_postings_holdings_and_rates(
        self, app: LedgerApplication, example: Any
    ) -> None:
        example.all_steps()
        explanation = ReadSide(app).pay("M1", "2026Q1", explain=True)["explanation"]
        postings = [line for line in explanation["lines"] if line["type"] == "Contribution.Posted"]
        assert sum(line["effect"] for line in postings) == Decimal(250000)
        assert {line["customer_id"] for line in explanation["lines"]
                if line["type"] == "Customer.Assigned"} == {"C1", "C2", "C3"}
        assert explanation["parameters"]["pay.r_over"] == Decimal("0.08")

    def test_the_timeline_gives_the_score_after_each_event_that_moved_it(
        self, app: LedgerApplication, example: Any
    ) -> None:
        example.all_steps()
        items = ReadSide(app).timeline("M1", "2026Q1")["items"]
        assert [(i["type"], i["effect"], i["score_after"]) for i in items] == [
            ("Deduction.Recorded", -10, 990),
            ("Deduction.Recorded", -50, 940),
            ("Deduction.Recorded", -200, 740),
            ("Deduction.Voided", 200, 940),
        ]
        assert items[-1]["recorded_at"] == example.receipts["decided"].recorded_at
        before = example.known_before("decided")
        known_before = ReadSide(app).timeline("M1", "2026Q1", known_at=before)
        assert [i["score_after"] for i in known_before["items"]] == [990, 940, 740]

    def test_an_approved_adjustment_moves_the_score_and_a_reversal_moves_it_back(
        self, app: LedgerApplication, example: Any
    ) -> None:
        example.all_steps()
        with acting_as(SUPERVISOR):
            adjustment = app.propose_adjustment(
                manager_id="M1", period="2026Q1", points=30, reason="mentoring"
            ).value
        figures = ReadSide(app)
        assert figures.score("M1", "2026Q1")["score"] == 940  # proposed only: not counted
        with acting_as(APPROVER):
            approved = app.decide_adjustment(adjustment.id, approved=True, reason="agreed")
        answer = figures.score("M1", "2026Q1", explain=True)
        assert (answer["score"], answer["adjustment_points"]) == (970, 30)
        line = answer["explanation"]["lines"][-1]
        assert (line["type"], line["effect"], line["position"]) == (
            "Adjustment.Approved", 30, approved.receipt.events[0].position
        )
        items = figures.timeline("M1", "2026Q1")["items"]
        assert (items[-1]["type"], items[-1]["effect"], items[-1]["score_after"]) == (
            "Adjustment.Approved", 30, 970
        )

    def test_the_portfolio_is_effective_dated(self, app: LedgerApplication, example: Any) -> None:
        example.all_steps()
        figures = ReadSide(app)
        held = figures.portfolio("M1")["customers"]
        assert [c["customer_id"] for c in held] == ["C1", "C2", "C3"]
        assert figures.portfolio("M1", as_of=date(2025, 12, 31))["customers"] == []

    def test_the_dispute_queue_shows_open_and_overdue_disputes(
        self, app: LedgerApplication, example: Any
    ) -> None:
        example.register()
        example.record_deductions()
        example.dispute_s3()
        figures = ReadSide(app)
        (item,) = figures.disputes(status="open")
        assert item["dispute_id"] == example.dispute_id and item["manager_id"] == "M1"
        assert figures.disputes(overdue=True, today=item["due_on"]) == []
        day_after = date.fromordinal(item["due_on"].toordinal() + 1)
        late = figures.disputes(overdue=True, today=day_after)
        assert [d["dispute_id"] for d in late] == [example.dispute_id]
        example.uphold()
        assert figures.disputes(status="open") == []
        assert [d["status"] for d in figures.disputes(manager_id="M1")] == ["decided"]

    def test_an_unknown_manager_is_not_found_and_so_is_one_not_yet_registered(
        self, app: LedgerApplication, example: Any
    ) -> None:
        example.all_steps()
        figures = ReadSide(app)
        with pytest.raises(NotFound):
            figures.score("M9", "2026Q1")
        with pytest.raises(NotFound):
            long_ago = example.known_before("target").replace(year=2020)
            figures.score("M1", "2026Q1", known_at=long_ago)

    def test_wiping_and_rebuilding_gives_the_same_views_and_figures(
        self, app: LedgerApplication, example: Any
    ) -> None:
        example.all_steps()
        runner.follow(app)
        before = runner.checksums(app)
        live = figure_of(engine_for(app), LIVE, "M1", "2026Q1")
        assert live is not None and (live["score"], live["actual_pay"]) == (940, PAY_AFTER_DECISION)

        runner.rebuild_live(app, page=7)

        assert runner.checksums(app) == before
        assert score_and_pay(ReadSide(app)) == (940, PAY_AFTER_DECISION)

    def test_a_rebuild_interrupted_in_the_figures_resumes_where_it_stopped(
        self, app: LedgerApplication, example: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        example.all_steps()
        with acting_as(SUPERVISOR):
            for n in range(2, 6):
                app.register_manager(business_id=f"M{n}", name=f"M{n}", grade="C", unit="U")
                app.set_target(f"M{n}", period="2026Q1", incremental=Decimal(n), reason="plan")
        runner.rebuild_live(app)
        clean = runner.checksums(app)
        monkeypatch.setattr(materialised, "MANAGERS_PER_PAGE", 2)
        swept: list[int] = []

        def ctrl_c_after_the_first_page(stage: str, total: int) -> Callable[[int], None]:
            def seen(n: int) -> None:
                swept.append(n)
                if stage == "managers":
                    raise KeyboardInterrupt

            return seen

        with pytest.raises(KeyboardInterrupt):
            runner.rebuild_live(app, progress=ctrl_c_after_the_first_page)
        assert swept[-1] == 2 and any(s.rebuilding for s in runner.status(app))

        resumed: dict[str, int] = {}

        def record_totals(stage: str, total: int) -> Callable[[int], None]:
            resumed[stage] = total
            return lambda n: None

        runner.rebuild_live(app, progress=record_totals)

        assert resumed["events"] == 0  # the facts were not emptied and replayed again
        assert runner.checksums(app) == clean

    def test_two_rebuilds_racing_never_apply_an_event_twice(
        self, app: LedgerApplication, example: Any
    ) -> None:
        example.all_steps()
        runner.rebuild_live(app)
        clean = runner.checksums(app)
        # Two processes rebuild at once with one-event pages: each page is applied by one
        # of them; the other's compare-and-set fails and its page rolls back.
        errors: list[BaseException] = []

        def rebuild() -> None:
            try:
                runner.rebuild_live(app, page=1)
            except BaseException as e:  # noqa: BLE001 - reported by the assertion below
                errors.append(e)

        threads = [threading.Thread(target=rebuild) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert runner.checksums(app) == clean

    def test_a_retroactive_rule_change_moves_figures_but_not_past_answers(
        self, app: LedgerApplication, example: Any
    ) -> None:
        example.all_steps()
        figures = ReadSide(app)
        runner.follow(app)
        engine = engine_for(app)

        # The operator drafts 2026.2 (points_to_score 20, r_over 0.10, from 2026-01-01) and
        # previews it in a shadow view; the live view does not move.
        example.draft_retroactive()
        live_before = (live_rows(app), _live_position(app))
        runner.rebuild_shadow(app, "draft", "2026.2")
        assert (live_rows(app), _live_position(app)) == live_before
        shadow = figure_of(engine, "draft", "M1", "2026Q1")
        assert shadow is not None and (shadow["score"], shadow["actual_pay"]) == (
            880, Decimal("33600.00")
        )
        assert score_and_pay(figures) == (940, PAY_AFTER_DECISION)

        # The diff names what changes and why.
        (key,) = diff(engine, LIVE, "draft")
        changes = {c.figure: (c.before, c.after, c.delta) for c in key.changes}
        assert changes["score"] == (940, 880, -60)
        assert changes["actual_pay"] == (
            PAY_AFTER_DECISION, Decimal("33600.00"), Decimal("-215.00")
        )
        assert ("score.points_to_score", 10, 20) in key.parameters
        assert ("pay.r_over", Decimal("0.08"), Decimal("0.10")) in key.parameters
        b1 = next(e for e in key.events if e.get("rule_code") == "B1")
        assert (b1["effect_before"], b1["effect_after"]) == (-10, -20)

        # Published: every answer now uses 2026.2; as known before publication, 2026.1 still.
        example.publish()
        assert score_and_pay(figures) == (880, Decimal("33600.00"))
        assert figures.score("M1", "2026Q1")["ruleset_version"] == "2026.2"
        before = figures.pay("M1", "2026Q1", known_at=example.known_before("published 2026.2"))
        assert (before["score"], before["actual_pay"], before["ruleset_version"]) == (
            940, PAY_AFTER_DECISION, "2026.1"
        )
        # The timeline shows the publication as the event that moved the score.
        last = figures.timeline("M1", "2026Q1")["items"][-1]
        assert (last["type"], last["effect"], last["score_after"], last["ruleset_version"]) == (
            "RuleBook.Published", -60, 880, "2026.2"
        )

        # A snapshot of the old live figures, a live rebuild, and the diff between them.
        runner.rebuild_shadow(app, "old", "2026.1")
        runner.rebuild_live(app)
        assert figure_of(engine, LIVE, "M1", "2026Q1")["score"] == 880  # type: ignore[index]
        (key,) = diff(engine, "old", LIVE)
        assert (key.ruleset_before, key.ruleset_after) == ("2026.1", "2026.2")
        assert {c.figure for c in key.changes} >= {"score", "performance_pay", "actual_pay"}

    def test_the_live_view_follows_a_publication_without_a_rebuild(
        self, app: LedgerApplication, example: Any
    ) -> None:
        example.all_steps()
        runner.follow(app)
        example.draft_retroactive()
        example.publish()
        runner.follow(app)
        live = figure_of(engine_for(app), LIVE, "M1", "2026Q1")
        assert live is not None and (live["score"], live["ruleset_version"]) == (880, "2026.2")

    def test_status_reports_position_and_lag(self, app: LedgerApplication, example: Any) -> None:
        example.all_steps()
        runner.follow(app)
        with_lag = app.register_manager(business_id="M2", name="Two", grade="A", unit="U1")
        rows = {row.name: row for row in runner.status(app)}
        assert rows["projection:facts"].lag == 1
        assert rows["figures:live"].position == with_lag.receipt.events[0].position - 1
        runner.follow(app)
        assert {row.lag for row in runner.status(app)} == {0}


class TestSQLite(SQLiteScenario):
    pass


@pytest.mark.postgres
class TestPostgreSQL(SQLiteScenario):
    @pytest.fixture
    def app(self, postgres_ledger: LedgerApplication) -> LedgerApplication:
        return postgres_ledger
