"""The role pages of the workspace (DESIGN §15) through Flask's test client: the auditor's,
the supervisor's and approver's queues and forms, the operator's rule sets.

Each person signs in through the sign-in form with their own cookie jar; the bank is set
up through the API with bearer tokens, and every form is sent with the CSRF token its page
carries. A refused form must show the ledger's refusal on the page and append nothing.
"""

from __future__ import annotations

import copy
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import page_bank
import pytest
from dbsupport import fresh_sqlite_url, postgres_service_url, reset_postgres
from page_bank import Q1, deduction
from scorecards import section_2026_3
from werkzeug.test import TestResponse

from api import LEDGER, create_app
from ledger.ruleset_document import default_document
from persistence.url import environment_for, sqlite_path


class Bank(page_bank.Bank):
    """The shared bank, with the disputes and refusals the role pages are about."""

    def dispute(self, deduction_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.call("POST", f"/deductions/{deduction_id}/disputes", "m1",
                                           {"reason": "not my customer"}, 201)
        return answer

    def score(self, known_at: str | None = None) -> int:
        cut = {"known_at": known_at} if known_at else {}
        response = self.api.get("/api/v1/managers/M1/score", query_string={**Q1, **cut},
                                headers={"Authorization": f"Bearer {self.tokens['auditor']}"})
        return int(response.get_json()["score"])

    def send(self, who: str, form_page: str, action: str, fields: dict[str, str],
             status: int = 303) -> TestResponse:
        return self.post_form(who, form_page, action, fields, status)

    def refused_form(self, who: str, form_page: str, action: str, fields: dict[str, str],
                     status: int) -> str:
        """A form the ledger refuses: the page shows why, and nothing was appended."""
        before = self.events()
        text = self.send(who, form_page, action, fields, status).get_data(as_text=True)
        assert 'id="refusal"' in text, text[:2000]
        assert self.events() == before, "a refused form appended events"
        return text


def score_on_page(text: str) -> int:
    found = re.search(r'id="score"[^>]*>\s*(\d+)', text)
    assert found, text[:3000]
    return int(found.group(1))


@pytest.fixture
def bank(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bank]:
    """SQLite, or PostgreSQL for the tests that ask for both (`BOTH`)."""
    if getattr(request, "param", "sqlite") == "postgres":
        reset_postgres()
        monkeypatch.setenv("LEDGER_SECRET_KEY", "s" * 48)  # PostgreSQL has no generated one
        url = postgres_service_url()
    else:
        url = fresh_sqlite_url()
    app = create_app({"LEDGER_ENV": environment_for(url)})
    yield Bank(app)
    app.extensions[LEDGER].close()


BOTH = pytest.mark.parametrize(
    "bank", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)


# --- disputes: the queue, the decision form, the worked example ------------------------


@BOTH
def test_a_reviewer_decides_through_the_form_and_the_score_moves_from_740_to_940(
    bank: Bank,
) -> None:
    ids = bank.worked_example()
    filed = bank.dispute(ids["S3"])
    quarter = "/app/managers/M1"
    assert score_on_page(bank.page("auditor", quarter, **Q1)) == 740
    # The dispute waits in the reviewers' queue, linking to its page and its form.
    queue = bank.page("reviewer", "/app/queues/disputes")
    dispute_page = f"/app/disputes/{filed['id']}"
    assert dispute_page in queue
    page = bank.page("reviewer", dispute_page)
    for field in ('name="outcome"', 'name="points"', 'name="reason"', 'id="decide"'):
        assert field in page
    # A reviewer who did not record S3 upholds it through the form.
    sent = bank.send("reviewer", dispute_page, f"{dispute_page}/decision",
                     {"outcome": "upheld", "points": "", "reason": "the complaint was not upheld"})
    assert sent.headers["Location"].endswith(dispute_page)
    decided = bank.page("reviewer", dispute_page)
    assert "upheld" in decided and 'id="decide"' not in decided
    assert bank.score() == 940
    assert score_on_page(bank.page("auditor", quarter, **Q1)) == 940
    # As known when the dispute was filed, the auditor still reads 740.
    assert score_on_page(bank.page("auditor", quarter, **Q1,
                                   known_at=filed["recorded_at"])) == 740
    # Decided, it leaves the queue.
    assert dispute_page not in bank.page("reviewer", "/app/queues/disputes")
    # Each step of the trail links to the quarter as known once it was recorded: 740 at
    # the filing, 940 at the voiding.
    trail = bank.page("auditor", f"/app/deductions/{ids['S3']}")
    links = dict(re.findall(r'<td>(\w+ · \w+)</td>.*?<a href="([^"]+)"', trail, re.S))
    for step, expected in (("Dispute · Filed", 740), ("Deduction · Voided", 940)):
        link = links[step].replace("&amp;", "&")
        assert score_on_page(bank.page("auditor", link)) == expected, step


@BOTH
def test_the_recorder_deciding_is_refused_on_the_page_and_nothing_is_appended(
    bank: Bank,
) -> None:
    ids = bank.worked_example()
    filed = bank.dispute(ids["S3"])
    dispute_page = f"/app/disputes/{filed['id']}"
    text = bank.refused_form("supervisor", dispute_page, f"{dispute_page}/decision",
                             {"outcome": "upheld", "reason": "my own"}, 403)
    assert "recorded" in text.lower()
    assert bank.score() == 740


def test_a_partly_upheld_decision_without_points_is_refused_naming_the_field(
    bank: Bank,
) -> None:
    ids = bank.worked_example()
    filed = bank.dispute(ids["S3"])
    dispute_page = f"/app/disputes/{filed['id']}"
    text = bank.refused_form("reviewer", dispute_page, f"{dispute_page}/decision",
                             {"outcome": "partly_upheld", "reason": "halve it"}, 422)
    assert "points" in text
    bank.refused_form("reviewer", dispute_page, f"{dispute_page}/decision",
                      {"outcome": "maybe", "reason": "x"}, 422)


def test_a_form_without_its_csrf_token_is_refused_and_appends_nothing(bank: Bank) -> None:
    ids = bank.worked_example()
    filed = bank.dispute(ids["S3"])
    before = bank.events()
    response = bank.browser("reviewer").post(f"/app/disputes/{filed['id']}/decision", data={
        "outcome": "upheld", "reason": "no token"})
    assert response.status_code == 400
    response = bank.browser("reviewer").post(f"/app/disputes/{filed['id']}/decision", data={
        "outcome": "upheld", "reason": "forged", "csrf_token": "forged"})
    assert response.status_code == 400
    assert bank.events() == before and bank.score() == 740


def test_the_queue_puts_overdue_disputes_first_and_says_how_many(bank: Bank) -> None:
    ids = bank.worked_example()
    first = bank.dispute(ids["S3"])
    bank.ledger.clock = lambda: datetime.now(UTC) + timedelta(days=11)  # S3's is overdue
    second = bank.call("POST", f"/deductions/{ids['C7']}/disputes", "m1", {"reason": "late"}, 201)
    queue = bank.page("reviewer", "/app/queues/disputes")
    rows = re.findall(r'<tr( class="overdue")?>\s*<td><a href="/app/disputes/([0-9a-f-]+)"', queue)
    assert rows == [(' class="overdue"', first["id"]), ("", second["id"])]
    assert "2 awaiting your decision, 1 of them overdue." in queue
    # Decided late, it is still decided (nothing is decided automatically, nor refused).
    page = f"/app/disputes/{first['id']}"
    bank.send("reviewer", page, f"{page}/decision", {"outcome": "rejected", "reason": "late"})
    assert first["id"] not in bank.page("reviewer", "/app/queues/disputes")


@BOTH
def test_an_appeal_is_decided_by_an_approver_on_the_dispute_page(bank: Bank) -> None:
    ids = bank.worked_example()
    filed = bank.dispute(ids["S3"])
    page = f"/app/disputes/{filed['id']}"
    bank.send("reviewer", page, f"{page}/decision", {"outcome": "rejected", "reason": "stands"})
    bank.call("POST", f"/disputes/{filed['id']}/appeal", "m1", {"reason": "please look again"})
    assert page in bank.page("approver", "/app/queues/disputes")
    assert page not in bank.page("reviewer", "/app/queues/disputes")
    assert 'id="decide"' in bank.page("approver", page)
    bank.send("approver", page, f"{page}/appeal/decision",
              {"outcome": "partly_upheld", "points": "10", "reason": "half of it"})
    assert bank.score() == 840


@BOTH
def test_the_parties_ask_answer_comment_and_withdraw_on_the_dispute_page(bank: Bank) -> None:
    ids = bank.worked_example()
    filed = bank.dispute(ids["S3"])
    page = f"/app/disputes/{filed['id']}"
    # The recorder may not ask; another reviewer may, and the deadline pauses.
    bank.refused_form("supervisor", page, f"{page}/information-request",
                      {"question": "mine?"}, 403)
    bank.send("reviewer", page, f"{page}/information-request", {"question": "which call?"})
    assert page not in bank.page("reviewer", "/app/queues/disputes")  # the filer owes a step
    assert 'id="answer-information"' in bank.page("m1", page)
    bank.send("m1", page, f"{page}/information", {"answer": "the call of 3 February"})
    assert page in bank.page("reviewer", "/app/queues/disputes")
    bank.send("m1", page, f"{page}/comments", {"text": "call log attached"})
    bank.send("reviewer", page, f"{page}/comments", {"text": "received"})
    trail = bank.page("auditor", page)
    for text in ("which call?", "the call of 3 February", "call log attached", "received"):
        assert text in trail
    # Another manager may not comment; the filer withdraws, and the deduction counts on.
    before = bank.events()
    assert bank.send("m2", page, f"{page}/comments", {"text": "x"}, 403)
    assert bank.events() == before
    bank.send("m1", page, f"{page}/withdrawal", {"reason": "settled"})
    assert bank.score() == 740
    assert 'id="withdraw"' not in bank.page("m1", page)


# --- the trails ---------------------------------------------------------------------------


def test_the_trail_pages_show_every_step_and_a_manager_only_their_own(bank: Bank) -> None:
    ids = bank.worked_example()
    filed = bank.dispute(ids["S3"])
    deduction_page, dispute_page = f"/app/deductions/{ids['S3']}", f"/app/disputes/{filed['id']}"
    for who in ("auditor", "supervisor", "m1"):
        text = bank.page(who, deduction_page)
        assert "sup-1" in text and "m1-user" in text and "not my customer" in text
    for who in ("auditor", "supervisor", "approver", "m1"):
        assert "not my customer" in bank.page(who, dispute_page)
    bank.page("m2", deduction_page, 403)
    bank.page("m2", dispute_page, 403)
    bank.page("approver", deduction_page, 403)  # as GET /deductions/{id}
    bank.page("operator", dispute_page, 403)
    bank.page("auditor", "/app/deductions/00000000-0000-4000-8000-000000000000", 404)


# --- verify and the feed ---------------------------------------------------------------------


def test_verify_names_the_first_bad_position_after_tampering(bank: Bank) -> None:
    bank.worked_example()
    assert 'id="first-bad"' not in bank.page("auditor", "/app/audit/verify")
    path = sqlite_path("sqlite:///" + bank.ledger.recorder.datastore.pool.db_name)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DROP TRIGGER IF EXISTS events_no_update")
        position = conn.execute("SELECT MIN(position) FROM events "
                                "WHERE topic LIKE '%Deduction.Recorded'").fetchone()[0]
        conn.execute("UPDATE events SET state = CAST(replace(CAST(state AS TEXT), "
                     "'found in review', 'found in rewiev') AS BLOB) "
                     "WHERE position = ?", (position,))
    conn.close()
    text = bank.page("auditor", "/app/audit/verify")
    found = re.search(r'id="first-bad"[^>]*>\s*(\d+)', text)
    assert found and int(found.group(1)) == position


def test_verify_checks_the_read_models_against_a_replay_on_request(bank: Bank) -> None:
    bank.worked_example()
    bank.score()  # the read models catch up
    assert "rows compared" in bank.page("auditor", "/app/audit/verify", views="true")
    path = sqlite_path("sqlite:///" + bank.ledger.recorder.datastore.pool.db_name)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE rm_deductions SET occurrences = occurrences + 1 "
                     "WHERE rule_code = 'S3'")
    conn.close()
    text = bank.page("auditor", "/app/audit/verify", views="true")
    assert 'id="views-result"' in text and "occurrences is 2" in text
    bank.page("auditor", "/app/audit/verify", 422, views="maybe")


@BOTH
def test_the_audit_feed_pages_like_the_api(bank: Bank) -> None:
    bank.worked_example()
    total = bank.events()
    first = bank.page("auditor", "/app/audit/events", limit=5)
    assert [int(p) for p in re.findall(r'id="event-(\d+)"', first)] == [1, 2, 3, 4, 5]
    assert "after=5" in first and "sup-1" in first
    last = bank.page("auditor", "/app/audit/events", after=total - 2, limit=5)
    assert [int(p) for p in re.findall(r'id="event-(\d+)"', last)] == [total - 1, total]
    assert 'rel="next"' not in last
    assert "limit" in bank.page("auditor", "/app/audit/events", 422, limit=5000)


# --- adjustments, the pay list, closing ------------------------------------------------------


@BOTH
def test_an_adjustment_is_approved_through_its_form_and_leaves_the_queue(bank: Bank) -> None:
    bank.worked_example()
    # A supervisor proposes through the form; a field that does not read is named.
    form = "/app/adjustments/new"
    text = bank.refused_form("supervisor", form, "/app/adjustments", {
        "manager_id": "M1", "period": "2026Q1", "points": "many", "reason": "x"}, 422)
    assert "points" in text
    bank.refused_form("supervisor", form, "/app/adjustments", {
        "manager_id": "M9", "period": "2026Q1", "points": "20", "reason": "x"}, 404)
    bank.send("supervisor", form, "/app/adjustments", {
        "manager_id": "M1", "period": "2026Q1", "points": "20", "reason": "branch award"})
    queue = "/app/queues/adjustments"
    assert "branch award" in bank.page("approver", queue)
    proposed = {"id": re.findall(r'/app/adjustments/([0-9a-f-]+)/approval',
                                 bank.page("approver", queue))[0]}
    bank.send("approver", queue, f"/app/adjustments/{proposed['id']}/approval",
              {"approved": "yes", "reason": "agreed"})
    assert "branch award" not in bank.page("approver", queue)
    assert bank.score() == 760
    # A decided adjustment cannot be decided again: the refusal is the page's message.
    bank.refused_form("approver2", queue, f"/app/adjustments/{proposed['id']}/approval",
                      {"approved": "no", "reason": "late"}, 409)


@BOTH
def test_above_the_limit_an_adjustment_waits_in_the_queue_for_a_second_approver(
    bank: Bank,
) -> None:
    bank.worked_example()
    content = copy.deepcopy(default_document())
    content["adjustments"] = {"second_approval_above": 50}
    content.update(version="2026.2", effective_from="2026-01-01")
    bank.call("POST", "/rulesets", "operator", {
        "version": "2026.2", "effective_from": "2026-01-01", "content": content}, 201)
    bank.call("POST", "/rulesets/2026.2/publish", "operator")
    big = bank.call("POST", "/adjustments", "supervisor", {
        "manager_id": "M1", "period": "2026Q1", "points": 60, "reason": "big award"}, 201)
    queue, approval = "/app/queues/adjustments", f"/app/adjustments/{big['id']}/approval"
    bank.send("approver", queue, approval, {"approved": "yes", "reason": "first"})
    waiting = bank.page("approver", queue)
    assert "big award" in waiting and "appr-1" in waiting and bank.score() == 740
    # The first approver may not approve twice; a second approver makes it count.
    bank.refused_form("approver", queue, approval, {"approved": "yes", "reason": "again"}, 403)
    bank.send("approver2", queue, approval, {"approved": "yes", "reason": "second"})
    assert "big award" not in bank.page("approver", queue) and bank.score() == 800


@BOTH
def test_the_pay_list_shows_the_worked_example_and_downloads_as_csv(bank: Bank) -> None:
    bank.worked_example()
    text = bank.page("approver", "/app/reports/pay-list", **Q1)
    assert "32365.00" in text and "李伟" in text
    response = bank.browser("auditor").get("/app/reports/pay-list.csv", query_string=Q1)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data().decode("utf-8")
    assert body.startswith("\ufeffmanager_id,")
    assert "M1,李伟,B,Branch 1,27000.00,7250.00,740" in body


def ranked(bank: Bank, **query: str) -> list[tuple[str, str, str]]:
    """The rankings page's rows: rank, manager, value."""
    text = bank.page("supervisor", "/app/reports/rankings", **Q1, **query)
    body = text.split('id="rankings"', 1)[1]
    return re.findall(r"<tr><td>(\d+)</td><td>(M\d)</td><td>[^<]*</td><td>([^<]*)</td>", body)


def test_rankings_order_the_managers_at_the_cut_and_share_tied_ranks(bank: Bank) -> None:
    bank.worked_example()
    assert ranked(bank) == [("1", "M2", "1000"), ("2", "M1", "740")]
    assert ranked(bank, by="actual_pay") == [("1", "M2", "36000.00"), ("2", "M1", "32365.00")]
    assert ranked(bank, by="profit_completion") == [("1", "M1", "1.0526"), ("2", "M2", "–")]
    # Just before the first deduction was recorded both stood at 1000: one rank, id order.
    log = bank.call("GET", "/audit/events", "auditor")["items"]
    first = min(e["recorded_at"] for e in log if e["type"] == "Deduction.Recorded")
    moment = datetime.fromisoformat(first.replace("Z", "+00:00")) - timedelta(microseconds=1)
    assert ranked(bank, known_at=moment.isoformat()) == [("1", "M1", "1000"), ("1", "M2", "1000")]
    assert "by" in bank.page("approver", "/app/reports/rankings", 422, by="height")
    # A new cut keeps the ranking asked for: the pickers carry `by` along.
    text = bank.page("supervisor", "/app/reports/rankings", by="actual_pay")
    assert '<input type="hidden" name="by" value="actual_pay">' in text


@BOTH
def test_a_supervisor_reassigns_a_disqualified_managers_customers_from_the_queue(
    bank: Bank,
) -> None:
    bank.worked_example()
    bank.call("POST", "/deductions", "supervisor", {
        **deduction("E1"), "disqualify": True, "description": "egregious breach"}, 201)
    queue = "/app/queues/reassignments?on=2026-03-01"
    listed = bank.page("auditor", queue)
    assert "disqualified since 2026-02-01" in listed
    assert all(c in listed for c in ("C1", "C2", "C3")) and 'action="/app/customers' not in listed
    bank.send("supervisor", queue, "/app/customers/C1/assignments", {
        "manager_id": "M2", "effective_on": "2026-03-01", "reason": "M1 disqualified",
        "on": "2026-03-01"})
    # No customer may go to a disqualified manager: refused on the queue's page.
    bank.refused_form("supervisor", queue, "/app/customers/C2/assignments", {
        "manager_id": "M1", "effective_on": "2026-03-01", "reason": "back"}, 409)
    after = bank.page("supervisor", queue).split("<h1", 1)[1]
    assert "C1" not in after and "C2" in after and "C3" in after
    bank.page("m1", queue, 403)


@BOTH
def test_an_approver_closes_a_period_through_the_form_once(bank: Bank) -> None:
    bank.worked_example()
    page = "/app/periods?period=2026Q1"
    assert 'id="close-period"' in bank.page("approver", page)
    bank.ledger.clock = lambda: datetime(2026, 4, 2, 4, tzinfo=UTC)  # the quarter is over
    bank.send("approver", page, "/app/periods/2026Q1/close", {"reason": "quarter end"})
    text = bank.page("approver", "/app/periods", period="2026Q1")
    assert "32365.00" in text and 'id="close-period"' not in text
    # A form sent again (a second tab, a double click) is refused and appends nothing.
    bank.refused_form("approver", "/app/sign-in", "/app/periods/2026Q1/close",
                      {"reason": "again"}, 409)
    bank.refused_form("approver", "/app/sign-in", "/app/periods/2026Q2/close",
                      {"reason": ""}, 422)


def test_an_assessor_saves_part_of_a_sheet_then_submits_it_through_the_forms(
    bank: Bank,
) -> None:
    bank.worked_example()
    document = section_2026_3()
    document["qualitative_items"] = {
        "Q1": {"dimension": "teamwork", "title": "跨部门协作", "max": 10},
        "Q2": {"dimension": "teamwork", "title": "团队配合", "max": 10}}
    bank.call("POST", "/rulesets", "operator", {
        "version": "2026.3", "effective_from": "2026-01-01", "content": document}, 201)
    bank.call("POST", "/rulesets/2026.3/publish", "operator")
    bank.call("POST", "/assessment-plans", "supervisor", {
        "id": "P-2026Q1", "period": "2026Q1", "unit": "Branch 1", "items": ["Q1", "Q2"],
        "assessors": [{"subject": "sup-1", "weight": "0.6"}, {"subject": "sup-2", "weight": "0.4"}],
        "closes_on": "2026-12-31"}, 201)
    sheet = "/app/queues/sheets/P-2026Q1/M1"
    assert sheet in bank.page("reviewer", "/app/queues/sheets")
    assert "跨部门协作" in bank.page("reviewer", sheet)
    bank.send("reviewer", sheet, sheet, {"score-Q1": "8", "score-Q2": "", "comment": ""})
    # Submitting with Q2 pending, or scoring above an item's maximum, is refused.
    bank.refused_form("reviewer", sheet, f"{sheet}/submit", {}, 409)
    text = bank.refused_form("reviewer", sheet, sheet, {"score-Q1": "8", "score-Q2": "11"}, 422)
    assert "scores.Q2" in text
    bank.send("reviewer", sheet, sheet, {"score-Q1": "8", "score-Q2": "9"})
    bank.send("reviewer", sheet, f"{sheet}/submit", {})
    assert sheet not in bank.page("reviewer", "/app/queues/sheets")
    assert 'id="save-sheet"' not in bank.page("reviewer", sheet)
    bank.page("auditor", sheet, 403)


# --- the operator's rule sets ----------------------------------------------------------------


@BOTH
def test_an_operator_reads_a_drafts_diff_with_its_causes_and_publishes_it(bank: Bank) -> None:
    bank.worked_example()
    content = copy.deepcopy(default_document())
    content.update(version="2026.2", effective_from="2026-01-01")
    content["deductions"]["B1"]["points"] = 3
    bank.call("POST", "/rulesets", "operator", {
        "version": "2026.2", "effective_from": "2026-01-01", "content": content}, 201)
    assert "2026.2" in bank.page("operator", "/app/rulesets")
    assert "deductions" in bank.page("operator", "/app/rulesets/2026.2")
    diff = bank.page("operator", "/app/rulesets/2026.2/diff")
    assert "M1" in diff and "deductions.B1.points" in diff and "720" in diff
    bank.send("operator", "/app/rulesets/2026.2", "/app/rulesets/2026.2/publish", {})
    assert bank.score() == 720
    bank.refused_form("operator", "/app/rulesets/2026.1", "/app/rulesets/2026.2/publish",
                      {}, 409)


# --- every page refuses the other roles -------------------------------------------------------

ROLE_PAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("/app/audit/managers?period=2026Q1", ("auditor",)),
    ("/app/audit/verify", ("auditor",)),
    ("/app/audit/events", ("auditor",)),
    ("/app/queues/disputes", ("supervisor", "approver")),
    ("/app/queues/adjustments", ("approver",)),
    ("/app/adjustments/new", ("supervisor",)),
    ("/app/queues/sheets", ("supervisor", "approver")),
    ("/app/standings", ("supervisor", "approver", "auditor")),
    ("/app/reports/pay-list?period=2026Q1", ("approver", "auditor")),
    ("/app/reports/rankings?period=2026Q1", ("supervisor", "approver", "auditor")),
    ("/app/periods?period=2026Q1", ("approver",)),
    ("/app/queues/reassignments", ("supervisor", "approver", "auditor")),
    ("/app/rulesets", ("operator", "auditor")),
    ("/app/rulesets/2026.1", ("operator", "auditor")),
    ("/app/rulesets/2026.1/diff", ("operator", "auditor")),
)
ROLES = {"supervisor": "supervisor", "approver": "approver", "auditor": "auditor",
         "operator": "operator", "m1": "manager", "integrator": "integrator"}


def test_every_role_page_opens_for_its_roles_and_refuses_the_others(bank: Bank) -> None:
    bank.worked_example()
    for path, roles in ROLE_PAGES:
        for who, role in ROLES.items():
            response = bank.browser(who).get(path)
            expected = 200 if role in roles else 403
            assert response.status_code == expected, (path, who, response.status_code)
            # No inline script or style: the content security policy would block them.
            text = response.get_data(as_text=True)
            assert "style=" not in text and "<script" not in text and "<style" not in text
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_a_page_asks_for_sign_in_first(bank: Bank) -> None:
    for path, _ in ROLE_PAGES:
        response = bank.app.test_client().get(path)
        assert response.status_code == 302 and "/app/sign-in" in response.headers["Location"]


def test_a_bad_cut_is_a_page_naming_the_field_never_a_500(bank: Bank) -> None:
    bank.worked_example()
    for query in ({"as_of": "2026-13-01"}, {"known_at": "yesterday"}, {"period": "2026Q7"}):
        response = bank.browser("auditor").get("/app/audit/managers", query_string=query)
        assert response.status_code == 422, query
        assert next(iter(query)) in response.get_data(as_text=True)


def test_the_role_pages_speak_chinese_when_asked(bank: Bank) -> None:
    ids = bank.worked_example()
    filed = bank.dispute(ids["S3"])
    page = bank.page("reviewer", f"/app/disputes/{filed['id']}", lang="zh_CN")
    assert "决定申诉" in page and "申诉成立" in page
    assert "待处理" in page  # the dispute's status, a label shown from data
    queue = bank.browser("approver").get("/app/queues/adjustments",
                                         headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "没有待审批的调整。" in queue.get_data(as_text=True)
    catalog = bank.page("operator", "/app/rulesets/2026.1", lang="zh_CN")
    assert "职业操守" in catalog and "差错扣分目录" in catalog


def test_unknown_or_malformed_addresses_are_pages_naming_why_never_a_500(bank: Bank) -> None:
    bank.worked_example()
    before = bank.events()
    for who, path, status in (
        ("operator", "/app/rulesets/9.9", 404), ("operator", "/app/rulesets/9.9/diff", 404),
        ("approver", "/app/periods?period=2026Q9", 422),
        ("auditor", "/app/audit/events?after=-1", 422),
        ("supervisor", "/app/queues/sheets/P-none/M1", 404),
        ("supervisor", "/app/disputes/not-a-uuid", 404),
        ("auditor", "/app/standings?as_of=2026-02-30", 422),
        ("approver", "/app/reports/pay-list?period=Q1", 422),
    ):
        response = bank.browser(who).get(path)
        assert response.status_code == status, (path, response.status_code)
        assert response.mimetype == "text/html", path
    bank.send("approver", "/app/periods", "/app/periods/2026Q9/close", {"reason": "x"}, 422)
    assert bank.events() == before


def test_every_input_of_the_role_pages_has_a_label_and_headings_go_in_order(
    bank: Bank,
) -> None:
    ids = bank.worked_example()
    filed = bank.dispute(ids["S3"])
    bank.call("POST", "/adjustments", "supervisor", {
        "manager_id": "M1", "period": "2026Q1", "points": 20, "reason": "award"}, 201)
    pages = [("reviewer", f"/app/disputes/{filed['id']}"), ("m1", f"/app/disputes/{filed['id']}"),
             ("auditor", f"/app/deductions/{ids['S3']}"), ("approver", "/app/queues/adjustments"),
             ("approver", "/app/periods?period=2026Q1"), ("operator", "/app/rulesets/2026.1"),
             *((who, path) for path, roles in ROLE_PAGES for who in roles[:1])]
    for language in ("en", "zh_CN"):
        for who, path in pages:
            text = bank.page(who, path, lang=language)
            inputs = re.findall(r'<(?:input|select|textarea)\b([^>]*)>', text)
            for attrs in (a for a in inputs if 'type="hidden"' not in a):
                found = re.search(r'id="([^"]+)"', attrs)
                assert found and f'<label for="{found.group(1)}">' in text, (path, attrs)
            levels = [int(level) for level in re.findall(r"<h([1-6])\b", text)]
            assert levels[0] == 1 and levels.count(1) == 1, path
            assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False)), path
