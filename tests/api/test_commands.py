"""Every command route through the test client: the happy path and each refusal.

Refusals assert the problem report and that the log did not grow (`harness.refused`).
The core flows run again on PostgreSQL by subclassing with another harness.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from persistence.tokens import TokenStore

if TYPE_CHECKING:
    from conftest import Harness


class CoreFlows:
    """The flows an integrator, a manager and reviewers go through, on SQLite."""

    def test_the_worked_example_runs_over_http_with_actor_role_and_request_id_on_each_event(
        self, harness: Harness
    ) -> None:
        harness.register_worked_example()
        ids = harness.record_worked_example_deductions()
        # M1 disputes S3, sending a request id of its own.
        filed = harness.ok(harness.post(f"/deductions/{ids['S3']}/disputes",
                                        {"reason": "complaint was about a colleague"}, "m1",
                                        **{"X-Request-ID": "req-m1-dispute"}), 201)
        assert filed["status"] == "open" and filed["manager_id"] == "M1"
        # A reviewer who did not record S3 upholds it: the deduction is voided in the same append.
        decided = harness.ok(harness.post(f"/disputes/{filed['id']}/decision",
                                          {"outcome": "upheld", "reason": "records agree"},
                                          "reviewer"))
        assert [e["type"] for e in decided["events"]] == ["Decided", "Voided"]
        assert decided["deduction_status"] == "voided"
        # The log names who did what, with the request id the client sent.
        log = harness.ok(harness.get("/audit/events", "auditor", after=0, limit=1000))["items"]
        filing = next(i for i in log if i["position"] == filed["events"][0]["position"])
        assert (filing["actor"], filing["role"], filing["request_id"]) == (
            "m1-user", "manager", "req-m1-dispute")
        assert {i["role"] for i in log} >= {"supervisor", "integrator", "manager"}

    def test_a_refused_command_appends_nothing_and_says_why_in_problem_json(
        self, harness: Harness
    ) -> None:
        harness.register_worked_example()
        problem = harness.refused(409, "post", "/managers",
                                  "supervisor", {"id": "M1", "name": "x", "grade": "B",
                                                 "unit": "u"})
        assert problem["type"].endswith("duplicate-fact")
        invalid = harness.refused(422, "post", "/deductions", "supervisor",
                                  harness.deduction("Z9"))
        assert "rule_code" in invalid["errors"]

    def test_a_repeated_contribution_is_a_duplicate_and_a_changed_one_a_conflict(
        self, harness: Harness
    ) -> None:
        harness.register_worked_example()
        before = harness.events()
        again = harness.ok(harness.post("/contributions", harness.posting("C1", "120000", "P1"),
                                        "integrator"), 200)
        assert again["result"] == "duplicate" and again["events"] == []
        assert harness.events() == before
        problem = harness.refused(409, "post", "/contributions", "integrator",
                                  harness.posting("C1", "999", "P1"))
        assert "other values" in problem["detail"]

    def test_a_batch_answers_item_by_item_and_keeps_every_valid_new_item(
        self, harness: Harness
    ) -> None:
        harness.register_worked_example()
        items = [
            harness.posting("C1", "10.50", "B-1"),          # new
            harness.posting("C1", "120000", "P1"),          # same as stored: duplicate
            harness.posting("C2", "1", "P2"),               # P2 holds other values: conflict
            {"customer_id": "C1", "booked_on": "yesterday"},  # invalid fields
            harness.posting("C9", "1", "B-2"),              # unknown customer: invalid
            harness.posting("C3", "7", "B-3"),              # new
            harness.posting("C3", "7", "B-3"),              # repeated inside the batch
        ]
        before = harness.events()
        answer = harness.ok(harness.post("/contributions/batch", {"items": items}, "integrator"))
        statuses = [i["status"] for i in answer["items"]]
        assert statuses == ["created", "duplicate", "conflict", "invalid", "invalid", "created",
                            "duplicate"]
        assert answer["counts"] == {"created": 2, "duplicate": 2, "conflict": 1, "invalid": 2}
        assert set(answer["items"][3]["errors"]) >= {"booked_on", "interest_income"}
        assert answer["items"][4]["errors"] == {"customer_id": ["no customer C9"]}
        # Both new postings went in one append, right after what was there.
        assert [answer["items"][i]["position"] for i in (0, 5)] == [before + 1, before + 2]
        assert harness.events() == before + 2

    def test_an_integrator_deduction_is_deduplicated_on_its_source_keys(
        self, harness: Harness
    ) -> None:
        harness.register_worked_example()
        keys = {"source_system": "CREDIT", "external_id": "D-1"}
        first = harness.ok(harness.post("/deductions", harness.deduction("C7", **keys),
                                        "integrator"), 201)
        assert (first["points"], first["score_delta"]) == (5, -50)
        before = harness.events()
        again = harness.ok(harness.post("/deductions", harness.deduction("C7", **keys),
                                        "integrator"), 200)
        assert (again["result"], again["id"]) == ("duplicate", first["id"])
        assert harness.events() == before
        harness.refused(409, "post", "/deductions", "integrator",
                        harness.deduction("C7", occurrences=2, **keys))
        # The posting's events carry the integration's source keys.
        trail = harness.ok(harness.get(f"/deductions/{first['id']}", "auditor"))
        assert (trail["source_system"], trail["external_id"]) == ("CREDIT", "D-1")

    def test_a_manager_cannot_dispute_another_managers_deduction(self, harness: Harness) -> None:
        harness.register_worked_example()
        ids = harness.record_worked_example_deductions()
        problem = harness.refused(403, "post", f"/deductions/{ids['B1']}/disputes", "m2",
                                  {"reason": "not me"})
        assert problem["rule"] == "OnlyTheOwnerMayDispute"
        harness.refused(403, "post", f"/deductions/{ids['B1']}/disputes", "supervisor",
                        {"reason": "wrong role"})

    def test_whoever_recorded_a_deduction_may_not_decide_its_dispute(
        self, harness: Harness
    ) -> None:
        harness.register_worked_example()
        ids = harness.record_worked_example_deductions()
        filed = harness.ok(harness.post(f"/deductions/{ids['S3']}/disputes",
                                        {"reason": "x"}, "m1"), 201)
        problem = harness.refused(403, "post", f"/disputes/{filed['id']}/decision", "supervisor",
                                  {"outcome": "upheld", "reason": "I recorded it"})
        assert problem["rule"] == "ReviewerIsNotTheRecorder"

    def test_a_revoked_token_is_refused_from_its_next_request(self, harness: Harness) -> None:
        assert harness.get("/rulesets", "operator").status_code == 200
        assert TokenStore.of(harness.ledger).revoke(harness.tokens["operator"]) is True
        problem = harness.refused(401, "get", "/rulesets", "operator")
        assert problem["type"].endswith("unauthenticated")


class TestCoreFlowsOnSQLite(CoreFlows):
    pass


@pytest.mark.postgres
class TestCoreFlowsOnPostgreSQL(CoreFlows):
    @pytest.fixture
    def harness(self, postgres_harness: Harness) -> Harness:
        return postgres_harness


# --- the rest of the routes, on SQLite ------------------------------------------------------


def test_managers_change_grade_and_targets_and_refuse_bad_input(harness: Harness) -> None:
    harness.register_worked_example()
    graded = harness.ok(harness.post("/managers/M1/grade", {
        "grade": "A", "effective_on": "2026-04-01", "reason": "promoted"}, "supervisor"))
    assert graded["grade"] == "A"
    assert graded["grades"][-1] == {"effective_on": "2026-04-01", "grade": "A"}
    changed = harness.ok(harness.put("/managers/M1/targets/2026Q1", {
        "incremental": 60000, "reason": "revised"}, "supervisor"))
    assert changed["targets"] == {"2026Q1": "60000.00"}
    assert changed["events"][0]["type"] == "TargetChanged"
    harness.refused(409, "post", "/managers/M1/grade",
                    "supervisor", {"grade": "A", "effective_on": "2026-05-01", "reason": "same"})
    harness.refused(404, "post", "/managers/M9/grade",
                    "supervisor", {"grade": "A", "effective_on": "2026-05-01", "reason": "who"})
    problem = harness.refused(422, "put", "/managers/M1/targets/2026Q5", "supervisor",
                              {"incremental": "1", "reason": "bad quarter"})
    assert "period" in problem["errors"]
    floats = harness.refused(422, "put", "/managers/M1/targets/2026Q1", "supervisor",
                             {"incremental": "1.234", "reason": "three places"})
    assert "incremental" in floats["errors"]


def test_every_invalid_field_is_listed_at_once(harness: Harness) -> None:
    problem = harness.refused(422, "post", "/managers", "supervisor",
                              {"id": "", "grade": "Z", "extra": 1})
    assert set(problem["errors"]) == {"id", "name", "grade", "unit", "extra"}
    assert problem["type"].endswith("invalid-input")


def test_customers_register_and_assign_and_premium_customers_need_grade_a(
    harness: Harness
) -> None:
    harness.register_worked_example()
    premium = harness.ok(harness.post("/customers", harness.customer("P1", "900000", "premium"),
                                      "integrator"), 201)
    assert premium["class"] == "premium" and premium["manager_id"] is None
    problem = harness.refused(409, "post", "/customers/P1/assignments", "supervisor", {
        "manager_id": "M1", "effective_on": "2026-01-01", "reason": "M1 is grade B"})
    assert problem["rule"] == "PremiumCustomersNeedTheRequiredGrade"
    assigned = harness.ok(harness.post("/customers/P1/assignments", {
        "manager_id": "M2", "effective_on": "2026-01-01", "reason": "grade A"}, "supervisor"))
    assert assigned["manager_id"] == "M2" and assigned["warnings"] == []
    harness.refused(403, "post", "/customers/P1/assignments", "integrator", {
        "manager_id": "M2", "effective_on": "2026-02-01", "reason": "integrators may not"})
    harness.refused(404, "post", "/customers/NOPE/assignments", "supervisor", {
        "manager_id": "M2", "effective_on": "2026-02-01", "reason": "unknown"})


def test_the_deduction_trail_is_for_auditors_supervisors_and_its_owner_only(
    harness: Harness
) -> None:
    harness.register_worked_example()
    ids = harness.record_worked_example_deductions()
    mine = harness.ok(harness.get(f"/deductions/{ids['C7']}", "m1"))
    assert (mine["status"], mine["points"], mine["recorded_by"]) == ("active", 5, "sup-1")
    assert [s["type"] for s in mine["trail"]] == ["Recorded"]
    assert mine["trail"][0]["texts"] == {"description": "C7 found in review"}
    assert harness.get(f"/deductions/{ids['C7']}", "m2").status_code == 403
    assert harness.get(f"/deductions/{ids['C7']}", "integrator").status_code == 403
    unknown = harness.get("/deductions/00000000-0000-4000-8000-000000000000", "auditor")
    assert unknown.status_code == 404 and unknown.mimetype == "application/problem+json"


def test_a_partly_upheld_dispute_is_appealed_and_the_approver_decides_finally(
    harness: Harness
) -> None:
    harness.register_worked_example()
    ids = harness.record_worked_example_deductions()
    filed = harness.ok(harness.post(f"/deductions/{ids['S3']}/disputes",
                                    {"reason": "too harsh", "evidence": ["mail-1"]}, "m1"), 201)
    dispute = f"/disputes/{filed['id']}"
    harness.ok(harness.post(f"{dispute}/comments", {"text": "see mail-1"}, "m1"))
    harness.ok(harness.post(f"{dispute}/comments", {"text": "checking"}, "reviewer"))
    harness.refused(403, "post", f"{dispute}/comments", "m2", {"text": "not mine"})
    harness.refused(422, "post", f"{dispute}/decision", "reviewer",
                    {"outcome": "partly_upheld", "reason": "no points given"})
    partly = harness.ok(harness.post(f"{dispute}/decision", {
        "outcome": "partly_upheld", "points": 10, "reason": "half"}, "reviewer"))
    assert (partly["status"], partly["deduction_status"]) == ("decided", "amended")
    harness.refused(403, "post", f"{dispute}/appeal", "m2", {"reason": "not mine"})
    harness.ok(harness.post(f"{dispute}/appeal", {"reason": "still too harsh"}, "m1"))
    harness.refused(403, "post", f"{dispute}/appeal/decision", "reviewer",
                    {"outcome": "upheld", "reason": "wrong role"})
    final = harness.ok(harness.post(f"{dispute}/appeal/decision", {
        "outcome": "upheld", "reason": "board agrees"}, "approver"))
    assert (final["status"], final["appeal_outcome"]) == ("appeal_decided", "upheld")
    harness.refused(409, "post", f"{dispute}/appeal/decision", "approver",
                    {"outcome": "rejected", "reason": "final already"})
    # One trail from recording to the final correction: the deduction's steps and the dispute's.
    trail = harness.ok(harness.get(dispute, "m1"))["trail"]
    assert [(s["aggregate"], s["type"]) for s in trail] == [
        ("Deduction", "Recorded"), ("Dispute", "Filed"), ("Deduction", "Disputed"),
        ("Dispute", "Commented"), ("Dispute", "Commented"), ("Dispute", "Decided"),
        ("Deduction", "Amended"), ("Dispute", "AppealFiled"), ("Dispute", "AppealDecided"),
        ("Deduction", "Voided")]
    assert [s["actor"] for s in trail] == [
        "sup-1", "m1-user", "m1-user", "m1-user", "sup-2", "sup-2", "sup-2", "m1-user",
        "appr-1", "appr-1"]
    assert trail[5]["details"]["points"] == 10 and trail[6]["details"]["points_total"] == 10
    assert harness.get(dispute, "m2").status_code == 403
    assert harness.get(dispute, "integrator").status_code == 403


def test_an_adjustment_needs_two_people(harness: Harness) -> None:
    harness.register_worked_example()
    proposed = harness.ok(harness.post("/adjustments", {
        "manager_id": "M1", "period": "2026Q1", "points": 30, "reason": "mentoring"},
        "supervisor"), 201)
    assert (proposed["status"], proposed["proposed_by"]) == ("proposed", "sup-1")
    harness.refused(403, "post", f"/adjustments/{proposed['id']}/approval", "supervisor",
                    {"approved": True, "reason": "own proposal"})
    approved = harness.ok(harness.post(f"/adjustments/{proposed['id']}/approval",
                                       {"approved": True, "reason": "agreed"}, "approver"))
    assert (approved["status"], approved["decided_by"]) == ("approved", "appr-1")
    # One person with a supervisor's and an approver's token never takes both steps, however
    # the subject is spelled (no role may act in every role any more: docs/roles.md).
    harness.tokens["sup-1-approving"] = TokenStore.of(harness.ledger).create(
        role="approver", subject="Sup-1")
    own = harness.ok(harness.post("/adjustments", {
        "manager_id": "M1", "period": "2026Q1", "points": -5, "reason": "x"}, "supervisor"), 201)
    problem = harness.refused(403, "post", f"/adjustments/{own['id']}/approval",
                              "sup-1-approving", {"approved": False, "reason": "mine"})
    assert problem["rule"] == "ApproverIsNotTheProposer"
    harness.refused(422, "post", "/adjustments", "supervisor", {
        "manager_id": "M1", "period": "2026Q1", "points": 0, "reason": "zero"})


def test_operators_draft_and_publish_rule_sets_everyone_reads_them(harness: Harness) -> None:
    current = harness.ok(harness.get("/rulesets/2026.1", "m1"))
    content = {k: v for k, v in current["content"].items()
               if k not in ("version", "effective_from")}
    content["score"]["points_to_score"] = 20
    new = {"version": "2026.2", "effective_from": "2026-04-01", "content": content}
    harness.refused(403, "post", "/rulesets", "supervisor", new)
    drafted = harness.ok(harness.post("/rulesets", new, "operator"), 201)
    assert (drafted["version"], drafted["published"]) == ("2026.2", False)
    harness.refused(409, "post", "/rulesets", "operator", new)
    published = harness.ok(harness.post("/rulesets/2026.2/publish", None, "operator"))
    assert published["published"] is True
    harness.refused(409, "post", "/rulesets/2026.2/publish", "operator")
    harness.refused(404, "post", "/rulesets/2099.1/publish", "operator")
    listed = harness.ok(harness.get("/rulesets", "integrator"))["items"]
    assert [(r["version"], r["published"]) for r in listed] == [("2026.1", True), ("2026.2", True)]
    broken = {**new, "version": "2026.3", "content": {**content, "pay": {"r_stock": 2}}}
    problem = harness.refused(422, "post", "/rulesets", "operator", broken)
    assert any(key.startswith("pay") for key in problem["errors"])
    clash = {**new, "version": "2026.4", "content": {**content, "version": "2026.9"}}
    assert "version" in harness.refused(422, "post", "/rulesets", "operator", clash)["errors"]
    assert harness.get("/rulesets/2099.1", "auditor").status_code == 404


def test_the_audit_log_pages_in_order_with_chain_links_for_auditors_only(
    harness: Harness
) -> None:
    harness.register_worked_example()
    first = harness.ok(harness.get("/audit/events", "auditor", after=0, limit=5))
    assert [i["position"] for i in first["items"]] == [1, 2, 3, 4, 5]
    assert first["next_after"] == 5
    assert all(len(i["link"]) == 64 and i["readable"] for i in first["items"])
    assert first["items"][0]["type"] == "RuleBook.Opened"
    rest = harness.ok(harness.get("/audit/events", "auditor", after=5, limit=1000))
    assert rest["items"][0]["position"] == 6 and rest["next_after"] is None
    assert harness.get("/audit/events", "auditor", limit=1001).status_code == 422
    assert harness.get("/audit/events", "supervisor").status_code == 403


def test_verify_recomputes_the_chain_for_auditors(harness: Harness) -> None:
    harness.register_worked_example()
    result = harness.ok(harness.get("/audit/verify", "auditor"))
    assert result["ok"] is True and result["first_bad"] is None
    assert result["checked"] == result["head_position"] == harness.events()
    assert harness.get("/audit/verify", "m1").status_code == 403


def test_verify_names_the_first_altered_event_after_tampering(harness: Harness) -> None:
    import sqlite3

    from persistence.url import sqlite_path

    harness.register_worked_example()
    path = sqlite_path("sqlite:///" + harness.ledger.recorder.datastore.pool.db_name)
    conn = sqlite3.connect(path)
    with conn:  # as the file's owner: drop the guard, change one state
        conn.execute("DROP TRIGGER events_no_update")
        conn.execute("UPDATE events SET state = CAST(replace(CAST(state AS TEXT), 'Li Wei', "
                     "'Li Wai') AS BLOB) WHERE position = 4")
    conn.close()
    result = harness.ok(harness.get("/audit/verify", "auditor"))
    assert result["ok"] is False
    assert result["first_bad"]["position"] == 4
    assert result["first_bad"]["kind"] == "altered"


def test_unknown_ids_are_404_for_every_kind_of_resource(harness: Harness) -> None:
    nobody = "00000000-0000-4000-8000-000000000000"
    harness.refused(404, "post", f"/disputes/{nobody}/comments", "supervisor", {"text": "x"})
    harness.refused(404, "post", f"/disputes/{nobody}/decision", "supervisor",
                    {"outcome": "rejected", "reason": "x"})
    harness.refused(404, "post", f"/adjustments/{nobody}/approval", "approver",
                    {"approved": True, "reason": "x"})
    harness.refused(404, "post", f"/deductions/{nobody}/disputes", "m1", {"reason": "x"})
    assert harness.get(f"/disputes/{nobody}", "auditor").status_code == 404
    harness.refused(404, "post", "/contributions", "integrator", harness.posting("C9", "1", "Z"))


def test_the_actor_comes_from_the_token_not_from_the_body(harness: Harness) -> None:
    body: dict[str, Any] = {"id": "M7", "name": "n", "grade": "A", "unit": "u", "actor": "x"}
    harness.refused(422, "post", "/managers", "supervisor", body)
    del body["actor"]
    created = harness.ok(harness.post("/managers", body, "supervisor"), 201)
    log = harness.ok(harness.get("/audit/events", "auditor",
                                 after=created["events"][0]["position"] - 1, limit=1))
    assert (log["items"][0]["actor"], log["items"][0]["role"]) == ("sup-1", "supervisor")
