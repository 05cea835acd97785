"""The workspace's frame and a manager's pages (DESIGN §15) through Flask's test client:
sign-in and sessions, CSRF, the content security policy, roles and ownership, a manager's
quarter at any cut, the dispute form, languages, the statement.

The bank is set up through the API with bearer tokens; each person signs in through the
sign-in form with their own cookie jar and sends every form with the CSRF token its page
carries. A refused page or form shows why and appends nothing.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import page_bank
import pytest
from dbsupport import fresh_sqlite_url, postgres_service_url, reset_postgres
from page_bank import Q1, csrf_of
from werkzeug.test import TestResponse

from api import LEDGER, create_app
from ledger.audit import AuditContext, acting_as
from ledger.ruleset_document import default_document, parse_ruleset
from persistence.session_secret import SessionSecretMissing, session_secret
from persistence.tokens import digest
from persistence.url import environment_for

QUARTER = "/app/managers/M1"
SCORE = re.compile(r'id="score">(\d+)<')


class Bank(page_bank.Bank):
    """The shared bank, with a manager's quarter as the page most forms are sent from."""

    def score_on_page(self, who: str = "m1", **cut: Any) -> int:
        found = SCORE.search(self.page(who, QUARTER, **{**Q1, **cut}))
        assert found, "the page shows no score"
        return int(found.group(1))

    def send(self, who: str, action: str, fields: dict[str, str], status: int = 302,
             form_page: str = QUARTER) -> TestResponse:
        return self.post_form(who, f"{form_page}?{urlencode(Q1)}", action, fields, status)

    def decide(self, dispute_id: str, outcome: str = "upheld") -> None:
        """The reviewer decides through the application (the decision page is a queue's)."""
        with acting_as(AuditContext(actor="sup-2", role="supervisor", request_id="test")):
            self.ledger.decide_dispute(dispute_id_of(dispute_id), outcome=outcome,
                                       reason="visit was logged")


def dispute_id_of(text: str) -> Any:
    from uuid import UUID  # noqa: PLC0415

    return UUID(text)


@pytest.fixture
def bank() -> Iterator[Bank]:
    app = create_app({"LEDGER_ENV": environment_for(fresh_sqlite_url())})
    yield Bank(app)
    app.extensions[LEDGER].close()


@pytest.fixture
def example(bank: Bank) -> dict[str, str]:
    return bank.worked_example()


# --- signing in ------------------------------------------------------------------------------


def test_a_page_asks_whoever_is_not_signed_in_to_sign_in_and_comes_back(bank: Bank) -> None:
    client = bank.app.test_client()
    response = client.get(QUARTER, query_string=Q1)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/app/sign-in?next=/app/managers/M1")
    form = client.get(response.headers["Location"]).get_data(as_text=True)
    assert '<label for="token">' in form and 'name="token"' in form
    assert 'action="/app/sign-in"' in form


def test_signing_in_keeps_only_the_tokens_digest_in_a_strict_http_only_cookie(
        bank: Bank, example: dict[str, str]) -> None:
    client = bank.app.test_client()
    response = client.post("/app/sign-in", data={
        "token": bank.tokens["m1"], "csrf_token": csrf_of(client.get("/app/sign-in")),
        "next": "/app/managers/M1?period=2026Q1"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/app/managers/M1?period=2026Q1"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/app" in cookie
    session = client.get_cookie("ledger_session", path="/app")
    assert session is not None
    # Flask's cookie is signed, not encrypted: what it carries is the digest, never the token.
    serializer = bank.app.session_interface.get_signing_serializer(bank.app)  # type: ignore
    payload = serializer.loads(session.value)
    assert payload["token_digest"] == digest(bank.tokens["m1"])
    assert bank.tokens["m1"] not in str(payload)
    assert SCORE.search(client.get(QUARTER, query_string=Q1).get_data(as_text=True))


def test_an_unknown_token_is_refused_on_the_form_and_starts_no_session(bank: Bank) -> None:
    client = bank.app.test_client()
    response = client.post("/app/sign-in", data={
        "token": "lt_not-a-token", "csrf_token": csrf_of(client.get("/app/sign-in"))})
    assert response.status_code == 401
    assert 'id="sign-in-error"' in response.get_data(as_text=True)
    assert client.get(QUARTER).status_code == 302


def test_a_revoked_token_ends_the_session_at_the_next_page(
        bank: Bank, example: dict[str, str]) -> None:
    assert bank.score_on_page() == 740
    bank.store.revoke(bank.tokens["m1"])
    response = bank.browser("m1").get(QUARTER, query_string=Q1)
    assert response.status_code == 302 and "/app/sign-in" in response.headers["Location"]


def test_signing_out_ends_the_session(bank: Bank, example: dict[str, str]) -> None:
    bank.send("m1", "/app/sign-out", {})
    assert bank.browser("m1").get(QUARTER).status_code == 302


def test_after_signing_in_nobody_is_sent_to_another_site(bank: Bank) -> None:
    client = bank.app.test_client()
    response = client.post("/app/sign-in", data={
        "token": bank.tokens["auditor"], "csrf_token": csrf_of(client.get("/app/sign-in")),
        "next": "https://evil.example/app/"})
    assert response.headers["Location"] == "/app/"


# --- CSRF and the content security policy ------------------------------------------------


def test_a_form_without_its_csrf_token_is_refused_and_appends_nothing(
        bank: Bank, example: dict[str, str]) -> None:
    before = bank.events()
    response = bank.browser("m1").post(f"/app/deductions/{example['S3']}/dispute",
                                       data={"reason": "not mine"})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    forged = bank.browser("m1").post(f"/app/deductions/{example['S3']}/dispute",
                                     data={"reason": "not mine", "csrf_token": "forged"})
    assert forged.status_code == 400
    assert bank.events() == before
    # Signing in needs one too: no site can sign a browser in as someone else.
    assert bank.app.test_client().post("/app/sign-in", data={
        "token": bank.tokens["m1"]}).status_code == 400


def test_pages_carry_the_security_policy_and_no_inline_script_or_style(
        bank: Bank, example: dict[str, str]) -> None:
    response = bank.browser("m1").get(QUARTER, query_string=Q1)
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    assert "<style" not in text and " style=" not in text
    assert not re.search(r"<script(?![^>]*\bsrc=)", text)
    assert 'href="/app/static/workspace.css"' in text
    assert 'media="print" href="/app/static/print.css"' in text
    for sheet in ("workspace.css", "print.css"):
        assert bank.browser("m1").get(f"/app/static/{sheet}").status_code == 200


def test_the_api_sets_no_session_cookie(bank: Bank, example: dict[str, str]) -> None:
    response = bank.api.get("/api/v1/managers/M1/score", query_string=Q1,
                            headers={"Authorization": f"Bearer {bank.tokens['m1']}"})
    assert response.status_code == 200 and "Set-Cookie" not in response.headers


# --- roles and ownership -------------------------------------------------------------------


def test_a_manager_cannot_open_another_managers_quarter(
        bank: Bank, example: dict[str, str]) -> None:
    text = bank.page("m2", QUARTER, 403, **Q1)
    assert "ManagersSeeTheirOwnData" in text and 'id="score"' not in text


def test_a_manager_cannot_dispute_another_managers_deduction(
        bank: Bank, example: dict[str, str]) -> None:
    before = bank.events()
    bank.send("m2", f"/app/deductions/{example['S3']}/dispute", {"reason": "x"}, 403,
              form_page="/app/managers/M2")
    assert bank.events() == before


@pytest.mark.parametrize("who", ["integrator", "operator"])
def test_roles_without_a_managers_figures_are_refused_the_quarter(
        bank: Bank, example: dict[str, str], who: str) -> None:
    assert "Forbidden" in bank.page(who, QUARTER, 403, **Q1)


@pytest.mark.parametrize("who", ["integrator", "operator", "auditor", "supervisor"])
def test_only_the_owner_may_send_the_dispute_form(
        bank: Bank, example: dict[str, str], who: str) -> None:
    before = bank.events()
    bank.send(who, f"/app/deductions/{example['S3']}/dispute", {"reason": "x"}, 403,
              form_page="/app/")
    assert bank.events() == before


def test_each_role_sees_the_sections_the_api_shows_it(
        bank: Bank, example: dict[str, str]) -> None:
    auditor = bank.page("auditor", QUARTER, **Q1)
    assert 'id="score">740' in auditor and 'id="actual-pay">32365.00' in auditor
    assert "/dispute" not in auditor  # only the owner disputes
    supervisor = bank.page("supervisor", QUARTER, **Q1)
    assert 'id="score">740' in supervisor and 'id="actual-pay"' not in supervisor
    approver = bank.page("approver", QUARTER, **Q1)
    assert 'id="score"' not in approver and 'id="actual-pay">32365.00' in approver


def test_a_manager_lands_on_their_quarter_and_others_on_their_links(bank: Bank) -> None:
    landing = bank.browser("m1").get("/app/")
    assert landing.status_code == 302 and landing.headers["Location"] == "/app/managers/M1"
    assert "/app/queues/disputes" in bank.page("supervisor", "/app/")
    assert "/app/audit/events" in bank.page("auditor", "/app/")


# --- a manager's quarter, at any cut ------------------------------------------------------


def test_the_quarter_shows_the_worked_examples_figures(
        bank: Bank, example: dict[str, str]) -> None:
    text = bank.page("m1", QUARTER, **Q1)
    assert 'id="score">740' in text and 'id="rating">' in text
    assert 'id="error-points">26' in text
    assert 'id="actual-pay">32365.00' in text and "7250.00" in text
    for code in ("B1", "C7", "S3"):
        assert f'id="dispute-{code}"' in text  # each still open to dispute, with its deadline
    assert 'for="as_of"' in text and 'for="known_at"' in text and 'for="period"' in text


def test_the_chart_has_one_linked_step_per_timeline_event(
        bank: Bank, example: dict[str, str]) -> None:
    text = bank.page("m1", QUARTER, **Q1)
    svg = text[text.index("<svg"):text.index("</svg>")]
    steps = re.findall(r'<a class="step" href="([^"]+)">', svg)
    timeline = bank.call("GET", "/managers/M1/timeline?period=2026Q1&as_of=2026-03-31",
                         "auditor")["items"]
    assert len(steps) == len(timeline) == 3
    assert steps == [f"/app/deductions/{example[c]}" for c in ("B1", "C7", "S3")]
    assert svg.count("<title") == 4  # the chart's, and one per step (hover shows the event)


def test_disputing_through_the_form_decides_940_and_known_at_before_reads_740(
        bank: Bank, example: dict[str, str]) -> None:
    before = bank.events()
    response = bank.send("m1", f"/app/deductions/{example['S3']}/dispute",
                         {"reason": "the complaint was withdrawn", "period": "2026Q1"})
    assert response.headers["Location"].endswith("/app/managers/M1?period=2026Q1#deductions")
    assert bank.events() == before + 2  # the dispute and the deduction's note, one append
    text = bank.page("m1", QUARTER, **Q1)
    assert "a decision is due by" in text and 'id="dispute-S3"' not in text
    dispute_id = bank.call("GET", f"/deductions/{example['S3']}", "auditor")["dispute_id"]
    assert f'href="/app/disputes/{dispute_id}"' in text
    known_before = datetime.now(UTC).isoformat()
    bank.decide(dispute_id)
    assert bank.score_on_page() == 940
    assert bank.score_on_page(known_at=known_before) == 740
    # The decision's step links to the dispute's trail.
    svg = bank.page("m1", QUARTER, **Q1).split("<svg", 1)[1]
    assert f'href="/app/disputes/{dispute_id}"' in svg


def test_a_second_dispute_is_refused_on_a_page_naming_the_rule(
        bank: Bank, example: dict[str, str]) -> None:
    bank.send("m1", f"/app/deductions/{example['S3']}/dispute", {"reason": "first"})
    before = bank.events()
    text = bank.send("m1", f"/app/deductions/{example['S3']}/dispute", {"reason": "again"},
                     409).get_data(as_text=True)
    assert 'id="refusal"' in text and bank.events() == before


def test_a_dispute_without_a_reason_is_refused_naming_the_field(
        bank: Bank, example: dict[str, str]) -> None:
    before = bank.events()
    text = bank.send("m1", f"/app/deductions/{example['S3']}/dispute", {"reason": ""},
                     422).get_data(as_text=True)
    assert "<code>reason</code>" in text and bank.events() == before
    text = bank.send("m1", f"/app/deductions/{example['S3']}/dispute",
                     {"reason": "nul\x00byte"}, 422).get_data(as_text=True)
    assert "<code>reason</code>" in text and bank.events() == before


def test_bad_pickers_are_refused_naming_the_field(bank: Bank, example: dict[str, str]) -> None:
    assert "<code>as_of</code>" in bank.page("m1", QUARTER, 422, as_of="31/03/2026")
    assert "<code>known_at</code>" in bank.page("m1", QUARTER, 422, known_at="yesterday")
    assert "<code>period</code>" in bank.page("m1", QUARTER, 422, period="2026Q5")


def test_a_known_at_without_an_offset_is_read_in_the_banks_time_zone(
        bank: Bank, example: dict[str, str]) -> None:
    # Before any of it was recorded (in Shanghai time): M1 is not known yet.
    assert "M1" in bank.page("m1", QUARTER, 404, known_at="2000-01-01T08:00", **Q1)
    text = bank.page("m1", QUARTER, known_at="2199-01-01T08:00:00", **Q1)
    assert "as known at 2199-01-01T00:00:00+00:00" in text


def test_the_manager_downloads_their_signed_statement(
        bank: Bank, example: dict[str, str]) -> None:
    response = bank.browser("m1").get("/app/managers/M1/statement.pdf",
                                      query_string={"period": "2026Q1"})
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    bank.page("supervisor", "/app/managers/M1/statement.pdf", 403, period="2026Q1")
    bank.page("m2", "/app/managers/M1/statement.pdf", 403, period="2026Q1")


def test_a_manager_appeals_a_rejected_dispute_from_the_quarter(
        bank: Bank, example: dict[str, str]) -> None:
    bank.send("m1", f"/app/deductions/{example['S3']}/dispute", {"reason": "first"})
    dispute_id = bank.call("GET", f"/deductions/{example['S3']}", "auditor")["dispute_id"]
    bank.decide(dispute_id, outcome="rejected")
    assert f'action="/app/disputes/{dispute_id}/appeal"' in bank.page("m1", QUARTER, **Q1)
    bank.send("m1", f"/app/disputes/{dispute_id}/appeal", {"reason": "new evidence"})
    assert bank.call("GET", f"/disputes/{dispute_id}", "auditor")["status"] == "appealed"


# --- languages -------------------------------------------------------------------------------


def test_the_browsers_language_chooses_chinese_with_the_catalogs_titles(
        bank: Bank, example: dict[str, str]) -> None:
    response = bank.browser("m1").get(QUARTER, query_string=Q1,
                                      headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    text = response.get_data(as_text=True)
    assert '<html lang="zh-CN">' in text and "管理考核得分" in text
    assert "未按要求拜访客户或拜访后未及时报告" in text  # B1, in seed 002's words
    english = bank.page("m1", QUARTER, **Q1)
    assert "Management score" in english and "Customer visit not made or not reported" in english


def test_the_language_switch_keeps_its_choice(bank: Bank, example: dict[str, str]) -> None:
    response = bank.send("m1", "/app/language", {"lang": "zh_CN", "next": QUARTER})
    assert response.headers["Location"] == QUARTER
    assert "lang=zh_CN" in response.headers["Set-Cookie"]
    assert "管理考核得分" in bank.page("m1", QUARTER, **Q1)
    bank.send("m1", "/app/language", {"lang": "en", "next": QUARTER})
    assert "Management score" in bank.page("m1", QUARTER, **Q1)


def test_a_rule_set_may_carry_the_chinese_title_of_its_own_code() -> None:
    document = default_document()
    document["version"] = "2027.1"
    document["deductions"]["X1"] = {"category": "service", "title": "New failure",
                                    "title_zh": "新的差错", "points": 3,
                                    "aggravatable": False, "disqualifying": False}
    parsed = parse_ruleset(document)
    assert parsed.deductions["X1"].title_zh == "新的差错"
    assert parsed.deductions["B1"].title_zh is None
    document["deductions"]["X1"]["title_zh"] = ""
    with pytest.raises(Exception, match="title_zh"):
        parse_ruleset(document)


# --- the session secret (DESIGN §10) -------------------------------------------------------


def test_on_sqlite_the_secret_is_generated_once_beside_the_database(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEDGER_SECRET_KEY", raising=False)
    env = {"SQLITE_DBNAME": str(tmp_path / "ledger.db")}
    first = session_secret(env)
    path = tmp_path / "ledger.db.secret-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert session_secret(env) == first and len(first) >= 32
    monkeypatch.setenv("LEDGER_SECRET_KEY", "x" * 40)
    assert session_secret(env) == "x" * 40


def test_without_a_database_file_a_missing_secret_is_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEDGER_SECRET_KEY", raising=False)
    with pytest.raises(SessionSecretMissing, match="LEDGER_SECRET_KEY"):
        session_secret({"POSTGRES_DBNAME": "ledger"})
    monkeypatch.setenv("LEDGER_SECRET_KEY", "short")
    with pytest.raises(SessionSecretMissing, match="at least 32"):
        session_secret({"POSTGRES_DBNAME": "ledger"})


def test_ledger_serve_on_postgresql_refuses_to_start_without_the_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger_cli import serving  # noqa: PLC0415
    from persistence.head import generate_key  # noqa: PLC0415

    generate_key(tmp_path / "statement.pem")
    monkeypatch.setenv("LEDGER_STATEMENT_KEY", str(tmp_path / "statement.pem"))
    monkeypatch.setenv("LEDGER_DATABASE_URL", "postgresql://ledger_service@127.0.0.1:5432/x")
    monkeypatch.delenv("LEDGER_SECRET_KEY", raising=False)
    with pytest.raises(SystemExit, match="LEDGER_SECRET_KEY"):
        serving.on_starting(None)


@pytest.mark.postgres
def test_on_postgresql_the_pages_name_the_missing_secret_and_serve_with_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    reset_postgres()
    monkeypatch.delenv("LEDGER_SECRET_KEY", raising=False)
    app = create_app({"LEDGER_ENV": environment_for(postgres_service_url())})
    try:
        response = app.test_client().get("/app/sign-in")
        assert response.status_code == 503
        assert "LEDGER_SECRET_KEY" in response.get_data(as_text=True)
    finally:
        app.extensions[LEDGER].close()
    monkeypatch.setenv("LEDGER_SECRET_KEY", "s" * 48)
    app = create_app({"LEDGER_ENV": environment_for(postgres_service_url())})
    try:
        bank = Bank(app)
        example = bank.worked_example()
        assert bank.score_on_page() == 740
        bank.send("m1", f"/app/deductions/{example['S3']}/dispute", {"reason": "withdrawn"})
        dispute_id = bank.call("GET", f"/deductions/{example['S3']}", "auditor")["dispute_id"]
        known_before = datetime.now(UTC).isoformat()
        bank.decide(dispute_id)
        assert bank.score_on_page() == 940
        assert bank.score_on_page(known_at=known_before) == 740
    finally:
        app.extensions[LEDGER].close()


def test_ledger_demo_leaves_a_session_secret_beside_its_sqlite_file(tmp_path: Path) -> None:
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    env = {k: v for k, v in os.environ.items() if k != "LEDGER_SECRET_KEY"}
    env["LEDGER_DATABASE_URL"] = f"sqlite:///{tmp_path}/var/ledger.db"
    (tmp_path / "var").mkdir()
    ledger = [sys.executable, "-c", "from ledger_cli.main import main; main()"]
    root = Path(__file__).resolve().parents[2]
    subprocess.run([*ledger, "db", "upgrade"], env=env, cwd=root, check=True,
                   capture_output=True)
    shown = subprocess.run([*ledger, "demo"], env=env, cwd=root, check=True,
                           capture_output=True, text=True).stdout
    secret = tmp_path / "var" / "ledger.db.secret-key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert "/app/sign-in" in shown and secret.read_text().strip() not in shown


# --- accessible pages ------------------------------------------------------------------------


def test_every_input_of_the_quarter_has_a_label_and_headings_go_in_order(
        bank: Bank, example: dict[str, str]) -> None:
    for language in ("en", "zh_CN"):
        text = bank.page("m1", QUARTER, lang=language, **Q1)
        inputs = re.findall(r'<(?:input|select|textarea)\b([^>]*)>', text)
        visible = [attrs for attrs in inputs if 'type="hidden"' not in attrs]
        assert len(visible) >= 6  # the three pickers and a reason per open deduction
        for attrs in visible:
            found = re.search(r'id="([^"]+)"', attrs)
            assert found and f'<label for="{found.group(1)}">' in text, attrs
        levels = [int(level) for level in re.findall(r"<h([1-6])\b", text)]
        assert levels[0] == 1 and levels.count(1) == 1
        assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False)), levels


def test_an_unknown_page_is_a_page_not_a_problem_report(bank: Bank) -> None:
    response = bank.browser("m1").get("/app/no-such-page")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert 'id="refusal"' in response.get_data(as_text=True)


def test_behind_tls_the_session_cookie_is_marked_secure(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_SECURE_COOKIES", "true")
    app = create_app({"LEDGER_ENV": environment_for(fresh_sqlite_url())})
    try:
        bank = Bank(app)
        client = app.test_client()
        response = client.post("/app/sign-in", base_url="https://localhost", data={
            "token": bank.tokens["m1"],
            "csrf_token": csrf_of(client.get("/app/sign-in", base_url="https://localhost"))},
            headers={"Referer": "https://localhost/app/sign-in"})
        assert response.status_code == 302
        assert "Secure" in response.headers["Set-Cookie"]
    finally:
        app.extensions[LEDGER].close()


@pytest.mark.parametrize(("who", "path", "query", "status"), [
    ("m2", "/app/managers/M2", Q1, 200),  # no deduction: a flat chart at 1000
    ("auditor", "/app/managers/M9", Q1, 404),
    ("approver", "/app/managers/M9", Q1, 404),
    ("auditor", "/app/managers/M1", {"period": "2025Q1", "as_of": "2025-03-31"}, 409),
    ("auditor", "/app/managers/M1", {"period": "2026Q1", "as_of": "1900-01-01"}, 200),
    ("auditor", "/app/managers/M1", {"known_at": "2026-01-01T00:00:00+14:00"}, 404),
])
def test_edges_of_the_quarter_are_pages_never_a_500(
        bank: Bank, example: dict[str, str], who: str, path: str, query: dict[str, str],
        status: int) -> None:
    text = bank.page(who, path, status, **query)
    assert ('id="refusal"' in text) == (status != 200)
