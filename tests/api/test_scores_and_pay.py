"""Figure queries over HTTP: the worked example's numbers, both time cuts, and who sees what."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("projections.read_side")

if TYPE_CHECKING:
    from conftest import Harness

Q1 = {"period": "2026Q1", "as_of": "2026-03-31"}


def figures(harness: Harness, who: str = "auditor", **cut: Any) -> tuple[dict[str, Any], ...]:
    score = harness.ok(harness.get("/managers/M1/score", who, **Q1, **cut))
    pay = harness.ok(harness.get("/managers/M1/pay", "approver", **Q1, **cut))
    return score, pay


def upheld_worked_example(harness: Harness) -> str:
    """The worked example up to the upheld S3 dispute; returns the filing's recording time."""
    harness.register_worked_example()
    ids = harness.record_worked_example_deductions()
    filed = harness.ok(harness.post(f"/deductions/{ids['S3']}/disputes", {"reason": "no"}, "m1"),
                       201)
    harness.ok(harness.post(f"/disputes/{filed['id']}/decision",
                            {"outcome": "upheld", "reason": "agreed"}, "reviewer"))
    return str(filed["recorded_at"])


def test_the_worked_example_scores_740_and_pays_32365_before_the_dispute(
    harness: Harness
) -> None:
    harness.register_worked_example()
    harness.record_worked_example_deductions()
    score, pay = figures(harness)
    assert (score["score"], score["error_points"], score["rating"]) == (740, 26, "satisfactory")
    assert (pay["performance_pay"], pay["actual_pay"]) == ("7250.00", "32365.00")
    assert (pay["stock_task"], pay["target"], pay["actual"]) == ("187500.00", "237500.00",
                                                                 "250000.00")
    assert score["ruleset_version"] == pay["ruleset_version"] == "2026.1"
    assert score["as_of"] == "2026-03-31" and score["known_at"].endswith("Z")


def test_after_the_upheld_dispute_940_and_33815_but_as_known_before_it_740_and_32365(
    harness: Harness
) -> None:
    known_before_decision = upheld_worked_example(harness)
    score, pay = figures(harness)
    assert (score["score"], pay["actual_pay"]) == (940, "33815.00")
    score, pay = figures(harness, known_at=known_before_decision)
    assert (score["score"], pay["actual_pay"]) == (740, "32365.00")
    assert score["known_at"] == known_before_decision


def test_a_manager_sees_only_their_own_figures_and_supervisors_no_pay(harness: Harness) -> None:
    harness.register_worked_example()
    assert harness.get("/managers/M1/score", "m1", **Q1).status_code == 200
    assert harness.get("/managers/M1/pay", "m1", **Q1).status_code == 200
    for path in ("score", "pay", "portfolio", "timeline"):
        assert harness.get(f"/managers/M1/{path}", "m2", **Q1).status_code == 403
    assert harness.get("/managers/M1/pay", "supervisor", **Q1).status_code == 403
    assert harness.get("/managers/M9/score", "auditor", **Q1).status_code == 404
    assert harness.get("/managers/M1/score", "auditor", period="2026Q9").status_code == 422


def test_the_portfolio_and_the_timeline_of_the_worked_example(harness: Harness) -> None:
    upheld_worked_example(harness)
    portfolio = harness.ok(harness.get("/managers/M1/portfolio", "m1", as_of="2026-02-01"))
    assert [c["customer_id"] for c in portfolio["customers"]] == ["C1", "C2", "C3"]
    timeline = harness.ok(harness.get("/managers/M1/timeline", "supervisor", **Q1))
    assert [s["score_after"] for s in timeline["items"]][-1] == 940
    assert timeline["ruleset_version"] == "2026.1"


def test_dispute_queues_filter_by_status_and_manager(harness: Harness) -> None:
    harness.register_worked_example()
    ids = harness.record_worked_example_deductions()
    filed = harness.ok(harness.post(f"/deductions/{ids['B1']}/disputes", {"reason": "x"}, "m1"),
                       201)
    queue = harness.ok(harness.get("/disputes", "supervisor", status="open"))
    assert [i["id"] for i in queue["items"]] == [filed["id"]]
    assert queue["items"][0]["overdue"] is False
    assert harness.ok(harness.get("/disputes", "auditor", manager_id="M2"))["items"] == []
    # Queues are the reviewers' and auditors' (DESIGN §9, docs/roles.md): a manager reads
    # each of their own disputes by id instead.
    assert harness.get("/disputes", "m1").status_code == 403
    assert harness.get("/disputes", "m1", manager_id="M1").status_code == 403
    assert harness.ok(harness.get(f"/disputes/{filed['id']}", "m1"))["status"] == "open"
    assert harness.get("/disputes", "integrator").status_code == 403
    assert harness.get("/disputes", "approver", status="lost").status_code == 422


def test_closing_a_period_freezes_every_managers_pay(harness: Harness) -> None:
    upheld_worked_example(harness)
    closed = harness.ok(harness.post("/periods/2026Q1/close", {"reason": "quarter end"},
                                     "approver"))
    assert closed["status"] == "closed"
    assert closed["frozen"]["managers"]["M1"]["actual_pay"] == "33815.00"
    harness.refused(409, "post", "/periods/2026Q1/close", "approver", {"reason": "again"})
    harness.refused(403, "post", "/periods/2026Q2/close", "supervisor", {"reason": "role"})


def test_lagging_projections_answer_503_with_retry_after(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    from projections.read_side import ProjectionLagging, ReadSide

    def behind(*args: Any, **kwargs: Any) -> None:
        raise ProjectionLagging(3, "projections are 5000 events behind")

    monkeypatch.setattr(ReadSide, "score", behind)
    response = harness.get("/managers/M1/score", "auditor", **Q1)
    assert (response.status_code, response.headers["Retry-After"]) == (503, "3")
    assert response.mimetype == "application/problem+json"
