"""Disqualification as a lasting state (DESIGN §16, issue 15 part 2), over HTTP.

A disqualifying deduction (E5 by the catalog, or any deduction flagged `disqualify`) makes
its manager `disqualified` from its effective date until an approver's reinstatement:
score 0 in every period the state touches, pay without its performance part, no customer
assigned, the customers held listed for reassignment. Voiding the deduction on dispute
ends the state as if it never began. Every refusal is a problem report that appends
nothing. The same scenarios run on PostgreSQL by subclassing with its harness.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from persistence.tokens import TokenStore

pytest.importorskip("projections.read_side")

if TYPE_CHECKING:
    from conftest import Harness

Q1 = {"period": "2026Q1", "as_of": "2026-03-31"}
Q2 = {"period": "2026Q2", "as_of": "2026-06-30"}
Q3 = {"period": "2026Q3", "as_of": "2026-09-30"}


def score(harness: Harness, quarter: dict[str, str], **cut: str) -> dict[str, Any]:
    answer: dict[str, Any] = harness.ok(harness.get("/managers/M1/score", "auditor",
                                                    **quarter, **cut))
    return answer


def disqualify_m1(harness: Harness, who: str = "supervisor") -> dict[str, Any]:
    """E5 (colluding with a customer) against M1 from 2026-02-01: always disqualifies."""
    found: dict[str, Any] = harness.ok(harness.post("/deductions", {
        "manager_id": "M1", "rule_code": "E5", "occurrences": 1, "aggravated": False,
        "effective_on": "2026-02-01", "description": "collusion found in audit"}, who), 201)
    return found


def assign(harness: Harness, cid: str, manager_id: str, on: str) -> Any:
    return harness.post(f"/customers/{cid}/assignments",
                        {"manager_id": manager_id, "effective_on": on, "reason": "portfolio"},
                        "supervisor")


def reinstate(harness: Harness, on: str, who: str = "approver", **headers: str) -> Any:
    return harness.post("/managers/M1/reinstatement",
                        {"effective_on": on, "reason": "board decision 12"}, who, **headers)


def q2_posting(harness: Harness) -> None:
    """A Q2 posting for C2, so M1 earns performance pay in Q2 (0.02 × 50000 = 1000)."""
    harness.ok(harness.post("/contributions", harness.posting(  # type: ignore[attr-defined]
        "C2", "50000", "Q2-1", booked_on="2026-04-15"), "integrator"), 201)


def timeline_types(harness: Harness, quarter: dict[str, str]) -> list[tuple[str, int, int]]:
    items = harness.ok(harness.get("/managers/M1/timeline", "auditor", **quarter))["items"]
    return [(i["type"], i["effect"], i["score_after"]) for i in items]


class DisqualificationOverTime:
    def test_the_state_zeroes_every_quarter_it_touches_until_reinstated(
        self, harness: Harness
    ) -> None:
        harness.register_worked_example()
        q2_posting(harness)
        before = score(harness, Q2)
        assert (before["score"], before["disqualified"]) == (1000, False)
        disqualify_m1(harness)
        # The deduction's own quarter and the next one: 0, failed, disqualified.
        for quarter in (Q1, Q2, Q3):
            figure = score(harness, quarter)
            assert (figure["score"], figure["rating"], figure["disqualified"]) == (
                0, "failed", True), quarter
        # Before the state began (by business date) the next quarters knew nothing of it.
        early = score(harness, {"period": "2026Q1", "as_of": "2026-01-31"})
        assert (early["score"], early["disqualified"]) == (1000, False)
        # Pay follows: the performance part counts for nothing, base salary stays.
        pay = harness.ok(harness.get("/managers/M1/pay", "approver", **Q2))
        assert (pay["performance_pay"], pay["actual_pay"]) == ("1000.00", "27000.00")
        # The explanation says why Q2 is 0.
        explained = harness.ok(harness.get("/managers/M1/score", "auditor", **Q2,
                                           explain="true"))
        assert "disqualified from 2026-02-01" in str(explained)
        # The timeline of Q2 shows the step where the state began.
        assert ("Manager.Disqualified", -1000, 0) in timeline_types(harness, Q2)
        # The manager reads as disqualified, since the deduction's date.
        manager = harness.ok(harness.get("/managers/M1", "supervisor"))
        assert manager["status"] == "disqualified"
        assert manager["status_history"] == [
            {"status": "active", "since": None, "until": "2026-02-01"},
            {"status": "disqualified", "since": "2026-02-01", "until": None}]
        listed = harness.ok(harness.get("/managers", "auditor"))["items"]
        assert [m["status"] for m in listed if m["id"] == "M1"] == ["disqualified"]

        # Reinstated from April 1st: Q2 and later score again; Q1 stays 0 (its own deduction).
        known_before = harness.ok(harness.get("/managers/M1/score", "auditor", **Q2))["known_at"]
        reinstated = harness.ok(reinstate(harness, "2026-04-01"))
        assert reinstated["status"] == "active"
        assert reinstated["status_history"][1] == {
            "status": "disqualified", "since": "2026-02-01", "until": "2026-04-01"}
        assert score(harness, Q1)["score"] == 0
        for quarter in (Q2, Q3):
            assert (score(harness, quarter)["score"], score(harness, quarter)["rating"]) == (
                1000, "excellent")
        pay = harness.ok(harness.get("/managers/M1/pay", "approver", **Q2))
        assert pay["actual_pay"] == "28000.00"
        # As known before the reinstatement was recorded: still disqualified.
        known = score(harness, Q2, known_at=known_before)
        assert (known["score"], known["disqualified"]) == (0, True)
        assert [t for t, _, _ in timeline_types(harness, Q2)][-2:] == [
            "Manager.Disqualified", "Manager.Reinstated"]

    def test_a_reinstatement_that_ends_only_in_april_leaves_april_disqualified(
        self, harness: Harness
    ) -> None:
        harness.register_worked_example()
        disqualify_m1(harness)
        harness.ok(reinstate(harness, "2026-04-10"))
        # Q2 is touched by April 1–9, so it is 0; Q3 is not.
        assert score(harness, Q2)["score"] == 0
        assert score(harness, Q3)["score"] == 1000
        # A reinstatement needs a disqualification in force on its date.
        for day in ("2026-01-15", "2026-05-01"):
            problem = harness.refused(409, "post", "/managers/M1/reinstatement", "approver",
                                      {"effective_on": day, "reason": "again"})
            assert problem["rule"] == "ReinstatementEndsADisqualification"
            assert f"M1 is not disqualified on {day}" in problem["detail"]

    def test_reinstatement_refusals_append_nothing_and_repeats_replay(
        self, harness: Harness
    ) -> None:
        harness.register_worked_example()
        # An approver who, as a supervisor, recorded the deduction may not reinstate:
        # "APPR-1" is appr-1 to separation of duties.
        store = TokenStore.of(harness.ledger)
        harness.tokens["appr-as-supervisor"] = store.create(role="supervisor", subject="APPR-1")
        disqualify_m1(harness, who="appr-as-supervisor")
        problem = harness.refused(403, "post", "/managers/M1/reinstatement", "approver",
                                  {"effective_on": "2026-04-01", "reason": "mine"})
        assert problem["rule"] == "ReinstaterIsNotTheRecorder"
        # Only an approver reinstates; the body is checked field by field.
        harness.refused(403, "post", "/managers/M1/reinstatement", "supervisor",
                        {"effective_on": "2026-04-01", "reason": "x"})
        problem = harness.refused(422, "post", "/managers/M1/reinstatement", "approver2",
                                  {"effective_on": "2026-13-01"})
        assert {"effective_on", "reason"} <= set(problem["errors"])
        harness.refused(404, "post", "/managers/M9/reinstatement", "approver2",
                        {"effective_on": "2026-04-01", "reason": "x"})
        # Another approver may; the same key again replays the answer and appends nothing.
        first = harness.ok(reinstate(harness, "2026-04-01", "approver2", **{
            "Idempotency-Key": "reinstate-1"}))
        events = harness.events()
        again = harness.ok(reinstate(harness, "2026-04-01", "approver2", **{
            "Idempotency-Key": "reinstate-1"}))
        assert again == first
        assert harness.events() == events

    def test_a_repeated_disqualifying_deduction_appends_nothing_more(
        self, harness: Harness
    ) -> None:
        harness.register_worked_example()
        body = {"manager_id": "M1", "rule_code": "E6", "occurrences": 1, "aggravated": False,
                "effective_on": "2026-02-01", "description": "unlawful conduct",
                "source_system": "HR", "external_id": "case-7"}
        first = harness.ok(harness.post("/deductions", body, "integrator"), 201)
        events = harness.events()
        # The integrator's keys again: the same deduction; a client's key again: replayed.
        again = harness.post("/deductions", body, "integrator")
        assert again.status_code in (200, 201) and again.get_json()["id"] == first["id"]
        assert harness.events() == events
        keyed = {**body, "external_id": "case-8"}
        one = harness.ok(harness.post("/deductions", keyed, "integrator",
                                      **{"Idempotency-Key": "dq-8"}), 201)
        events = harness.events()
        two = harness.ok(harness.post("/deductions", keyed, "integrator",
                                      **{"Idempotency-Key": "dq-8"}), 201)
        assert (two["id"], harness.events()) == (one["id"], events)
        manager = harness.ok(harness.get("/managers/M1", "supervisor"))
        assert sorted(d["deduction_id"] for d in manager["disqualifications"]) == sorted(
            [first["id"], one["id"]])

    def test_no_customer_is_assigned_to_a_disqualified_manager(self, harness: Harness) -> None:
        harness.register_worked_example()
        harness.ok(harness.post("/customers", harness.customer(  # type: ignore[attr-defined]
            "C4", "100000"), "supervisor"), 201)
        disqualify_m1(harness)
        for day in ("2026-02-01", "2026-03-15"):
            problem = harness.refused(409, "post", "/customers/C4/assignments", "supervisor",
                                      {"manager_id": "M1", "effective_on": day, "reason": "x"})
            assert problem["rule"] == "CustomersGoOnlyToQualifiedManagers"
            assert "manager_id M1" in problem["detail"]
            assert problem["current_state"] == "disqualified"
        # On the assignment's effective date: before the state began, it is accepted.
        harness.ok(assign(harness, "C4", "M1", "2026-01-20"))
        harness.ok(reinstate(harness, "2026-04-01"))
        harness.ok(assign(harness, "C4", "M2", "2026-03-01"))
        harness.refused(409, "post", "/customers/C4/assignments", "supervisor",
                        {"manager_id": "M1", "effective_on": "2026-03-31", "reason": "x"})
        harness.ok(assign(harness, "C4", "M1", "2026-04-01"))

    def test_the_queue_lists_the_customers_disqualified_managers_still_hold(
        self, harness: Harness
    ) -> None:
        harness.register_worked_example()
        harness.ok(harness.post("/managers", {"id": "M3", "name": "Wang Fang", "grade": "B",
                                              "unit": "Branch 2"}, "supervisor"), 201)
        harness.ok(harness.post("/customers", harness.customer(  # type: ignore[attr-defined]
            "C5", "100000"), "supervisor"), 201)
        harness.ok(assign(harness, "C5", "M3", "2026-01-01"))
        empty = harness.ok(harness.get("/reassignments", "supervisor", on="2026-05-01"))
        assert empty["items"] == []
        disqualify_m1(harness)
        harness.ok(harness.post("/deductions", {
            "manager_id": "M3", "rule_code": "E1", "occurrences": 1, "aggravated": False,
            "disqualify": True, "effective_on": "2026-03-01", "description": "egregious"},
            "supervisor"), 201)
        queue = harness.ok(harness.get("/reassignments", "supervisor", on="2026-05-01"))
        assert [(i["manager_id"], i["disqualified_since"],
                 [c["customer_id"] for c in i["customers"]]) for i in queue["items"]] == [
            ("M1", "2026-02-01", ["C1", "C2", "C3"]), ("M3", "2026-03-01", ["C5"])]
        assert queue["next_after"] is None
        # Paged by the cursor, one manager a page.
        first = harness.ok(harness.get("/reassignments", "approver", on="2026-05-01", limit=1))
        assert ([i["manager_id"] for i in first["items"]], first["next_after"]) == (["M1"], "M1")
        second = harness.ok(harness.get("/reassignments", "auditor", on="2026-05-01", limit=1,
                                        after="M1"))
        assert ([i["manager_id"] for i in second["items"]], second["next_after"]) == (
            ["M3"], None)
        # Before M3's state began only M1 is listed; reassigned customers leave the queue.
        early = harness.ok(harness.get("/reassignments", "supervisor", on="2026-02-15"))
        assert [i["manager_id"] for i in early["items"]] == ["M1"]
        for cid in ("C1", "C2", "C3"):
            harness.ok(assign(harness, cid, "M2", "2026-04-01"))
        queue = harness.ok(harness.get("/reassignments", "supervisor", on="2026-05-01"))
        assert [i["manager_id"] for i in queue["items"]] == ["M3"]
        harness.refused(403, "get", "/reassignments", "m1")
        harness.refused(422, "get", "/reassignments?limit=0", "supervisor")

    def test_the_span_of_control_is_shared_among_managers_not_disqualified(
        self, harness: Harness
    ) -> None:
        # Four managers share eight customers two each; M4 is disqualified, so three share
        # them: the bound is 1.5 × 8 ÷ 3 = 4, not 1.5 × 8 ÷ 4 = 3.
        managers = ("M1", "M2", "M3", "M4")
        for manager_id in managers:
            harness.ok(harness.post("/managers", {"id": manager_id, "name": manager_id,
                                                  "grade": "A", "unit": "U1"}, "supervisor"), 201)
        for n in range(1, 9):
            harness.ok(harness.post("/customers", harness.customer(  # type: ignore[attr-defined]
                f"C{n}", "1000"), "supervisor"), 201)
            harness.ok(assign(harness, f"C{n}", managers[(n - 1) % 4], "2026-01-01"))
        # Before M4's disqualification, M1 holding 4 is above the bound among four managers.
        assert harness.ok(assign(harness, "C6", "M1", "2026-01-20"))["warnings"] == []
        above = harness.ok(assign(harness, "C7", "M1", "2026-01-25"))
        assert [w["code"] for w in above["warnings"]] == ["span_of_control"]
        harness.ok(harness.post("/deductions", {
            "manager_id": "M4", "rule_code": "E6", "occurrences": 1, "aggravated": False,
            "effective_on": "2026-02-01", "description": "unlawful conduct"}, "supervisor"), 201)
        # After it, the same 4 is at the bound among the three who may hold customers.
        assert harness.ok(assign(harness, "C7", "M2", "2026-03-01"))["warnings"] == []
        assert harness.ok(assign(harness, "C7", "M1", "2026-03-02"))["warnings"] == []

    def test_voiding_the_deduction_on_dispute_ends_the_state_as_if_it_never_began(
        self, harness: Harness
    ) -> None:
        harness.register_worked_example()
        q2_posting(harness)
        recorded = harness.ok(harness.post("/deductions", {
            "manager_id": "M1", "rule_code": "E1", "occurrences": 1, "aggravated": False,
            "disqualify": True, "effective_on": "2026-02-01",
            "description": "egregious breach"}, "supervisor"), 201)
        assert score(harness, Q2)["score"] == 0
        filed = harness.ok(harness.post(f"/deductions/{recorded['id']}/disputes",
                                        {"reason": "not egregious at all"}, "m1"), 201)
        known_before = score(harness, Q2)["known_at"]
        harness.ok(harness.post(f"/disputes/{filed['id']}/decision", {
            "outcome": "upheld", "reason": "no breach"}, "reviewer"))
        # Every touched quarter is recomputed: as if the state never began.
        assert score(harness, Q1)["score"] == 1000
        for quarter in (Q2, Q3):
            figure = score(harness, quarter)
            assert (figure["score"], figure["disqualified"]) == (1000, False)
        pay = harness.ok(harness.get("/managers/M1/pay", "approver", **Q2))
        assert pay["actual_pay"] == "28000.00"
        manager = harness.ok(harness.get("/managers/M1", "supervisor"))
        assert (manager["status"], manager["disqualifications"]) == ("active", [])
        assert manager["status_history"] == [{"status": "active", "since": None, "until": None}]
        harness.ok(assign(harness, "C3", "M2", "2026-03-01"))
        queue = harness.ok(harness.get("/reassignments", "supervisor", on="2026-05-01"))
        assert queue["items"] == []
        # The timeline explains: where the state began, and where the void removed it.
        assert timeline_types(harness, Q2)[-2:] == [
            ("Manager.Disqualified", -1000, 0), ("Manager.DisqualificationVoided", 1000, 1000)]
        # As known before the decision: still disqualified.
        known = score(harness, Q2, known_at=known_before)
        assert (known["score"], known["disqualified"]) == (0, True)
        # Nothing is left to reinstate.
        harness.refused(409, "post", "/managers/M1/reinstatement", "approver",
                        {"effective_on": "2026-04-01", "reason": "x"})


    def test_an_appeal_upheld_ends_the_state_as_if_it_never_began(
        self, harness: Harness
    ) -> None:
        harness.register_worked_example()
        recorded = harness.ok(harness.post("/deductions", {
            "manager_id": "M1", "rule_code": "C1", "occurrences": 1, "aggravated": False,
            "disqualify": True, "effective_on": "2026-02-01",
            "description": "materials falsified with the customer"}, "supervisor"), 201)
        filed = harness.ok(harness.post(f"/deductions/{recorded['id']}/disputes",
                                        {"reason": "not falsified"}, "m1"), 201)
        harness.ok(harness.post(f"/disputes/{filed['id']}/decision", {
            "outcome": "rejected", "reason": "the file says so"}, "reviewer"))
        # A rejection leaves the state as it was.
        assert score(harness, Q3)["disqualified"] is True
        harness.ok(harness.post(f"/disputes/{filed['id']}/appeal",
                                {"reason": "the file was wrong"}, "m1"))
        harness.ok(harness.post(f"/disputes/{filed['id']}/appeal/decision", {
            "outcome": "upheld", "reason": "board agrees"}, "approver"))
        assert (score(harness, Q3)["score"], score(harness, Q3)["disqualified"]) == (1000, False)
        manager = harness.ok(harness.get("/managers/M1", "supervisor"))
        assert (manager["status"], manager["disqualifications"]) == ("active", [])


class TestDisqualificationOverTimeOnSQLite(DisqualificationOverTime):
    pass


@pytest.mark.postgres
class TestDisqualificationOverTimeOnPostgreSQL(DisqualificationOverTime):
    @pytest.fixture
    def harness(self, postgres_harness: Harness) -> Harness:
        return postgres_harness
