"""Role × route: every route of DESIGN §9, every role, and no/bad/revoked/expired tokens.

The table below is §9's "who" column, cell by cell (docs/roles.md says how "owner",
"parties" and "reviewer" read). A cell is checked both ways: an admitted principal's request
gets past authorisation (whatever the command then says: 2xx, 404, 409, 422 or a
separation-of-duties refusal), a refused one gets 403 and appends nothing. The same table is
compared with the OpenAPI document's `x-roles`, so code, §9 and the document agree.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import update

from persistence.engines import writing
from persistence.tokens import ROLES, TokenStore, api_tokens

pytest.importorskip("projections.read_side")

if TYPE_CHECKING:
    from conftest import Harness

OWNER = "owner"
"""In a cell: a manager's token, admitted only for its own manager's data."""
EVERYONE = (*ROLES,)
OWNERSHIP_RULES = {"ManagersSeeTheirOwnData", "OnlyTheOwnerMayDispute", "OnlyTheOwnerMayAppeal",
                   "OnlyTheFilerMayWithdraw", "OnlyTheFilerMayAnswer"}

# (method, path with the fixture's ids, body, who) — DESIGN §9, one row per route.
SECTION_9: list[tuple[str, str, Any, tuple[str, ...]]] = [
    ("post", "/managers", {}, ("supervisor",)),
    ("post", "/managers/M1/grade", {}, ("supervisor",)),
    ("post", "/customers", {}, ("supervisor", "integrator")),
    ("post", "/customers/C1/assignments", {}, ("supervisor",)),
    ("put", "/managers/M1/targets/2026Q1", {}, ("supervisor",)),
    ("post", "/contributions", {}, ("integrator",)),
    ("post", "/contributions/batch", {}, ("integrator",)),
    ("post", "/deductions", {}, ("supervisor", "integrator")),
    ("get", "/deductions/{B1}", None, ("auditor", "supervisor", OWNER)),
    ("post", "/deductions/{B1}/disputes", {"reason": "not mine"}, (OWNER,)),
    ("post", "/disputes/{open}/comments", {"text": "a note"}, (OWNER, "supervisor", "approver")),
    ("post", "/disputes/{open}/decision", {}, ("supervisor",)),
    ("post", "/disputes/{rejected}/appeal", {"reason": "again"}, (OWNER,)),
    ("post", "/disputes/{rejected}/appeal/decision", {}, ("approver",)),
    ("get", "/disputes/{open}", None, ("auditor", OWNER, "supervisor", "approver")),
    ("get", "/disputes", None, ("supervisor", "approver", "auditor")),
    ("post", "/adjustments", {}, ("supervisor",)),
    ("post", "/adjustments/{adjustment}/approval", {}, ("approver",)),
    ("get", "/rulesets", None, EVERYONE),
    ("post", "/rulesets", {}, ("operator",)),
    ("get", "/rulesets/2026.1", None, EVERYONE),
    ("post", "/rulesets/2026.1/publish", {}, ("operator",)),
    ("post", "/periods/2026Q1/close", {}, ("approver",)),
    ("get", "/managers/M1/score?period=2026Q1", None, ("auditor", "supervisor", OWNER)),
    ("get", "/managers/M1/portfolio", None, ("auditor", "supervisor", OWNER)),
    ("get", "/managers/M1/pay?period=2026Q1", None, ("auditor", "approver", OWNER)),
    ("get", "/managers/M1/timeline?period=2026Q1", None, ("auditor", "supervisor", OWNER)),
    ("get", "/audit/events", None, ("auditor",)),
    ("get", "/audit/verify", None, ("auditor",)),
]

# DESIGN §14's reports and statements (issue 16), as §14 names their roles.
SECTION_14: list[tuple[str, str, Any, tuple[str, ...]]] = [
    ("get", "/reports/pay-list?period=2026Q1", None, ("approver", "auditor")),
    ("get", "/reports/rankings?period=2026Q1", None, ("supervisor", "approver", "auditor")),
    ("get", "/managers/M1/statement.json?period=2026Q1", None, (OWNER, "approver", "auditor")),
    ("get", "/managers/M1/statement?period=2026Q1", None, (OWNER, "approver", "auditor")),
    ("post", "/audit/statements/verify", {}, ("auditor",)),
]
SECTION_9 += SECTION_14

# DESIGN §16's routes (issue 15), read cell by cell like §9's (docs/roles.md).
SECTION_16: list[tuple[str, str, Any, tuple[str, ...]]] = [
    ("post", "/disputes/{open}/withdrawal", {"reason": "mine after all"}, (OWNER,)),
    ("post", "/disputes/{open}/information-request", {"question": "which?"},
     ("supervisor", "approver")),
    ("post", "/disputes/{open}/information", {"answer": "that one"}, (OWNER,)),
    ("get", "/managers", None, ("supervisor", "approver", "auditor")),
    ("get", "/managers/M1", None, ("supervisor", "approver", "auditor", OWNER)),
    ("get", "/units", None, ("supervisor", "approver", "auditor")),
    ("get", "/customers", None, ("supervisor", "approver", "auditor", "integrator", "manager")),
    ("get", "/customers/C1", None, ("supervisor", "approver", "auditor", "integrator", OWNER)),
    ("get", "/customers/C1/holder?on=2026-02-01", None,
     ("supervisor", "approver", "auditor", "integrator", OWNER)),
    ("get", "/rulesets/2026.1/diff?against=live", None, ("operator", "auditor")),
    ("post", "/managers/M1/reinstatement", {}, ("approver",)),
    ("get", "/reassignments", None, ("supervisor", "approver", "auditor")),
]
SECTION_9 += SECTION_16

# DESIGN §12–13's routes (issue 14). An assessor may hold any role that scores people
# (supervisor, approver, a peer manager); auditors read, they do not score.
SHEET = "/assessment-plans/P1/sheets/M1"
SECTIONS_12_13: list[tuple[str, str, Any, tuple[str, ...]]] = [
    ("post", "/assessment-plans", {}, ("supervisor",)),
    ("get", "/assessment-plans/P1", None, ("supervisor", "auditor")),
    ("get", "/assessment-tasks", None, ("supervisor", "approver", "manager")),
    ("put", SHEET, {"scores": {"Q1": 5}}, ("supervisor", "approver", "manager")),
    ("post", f"{SHEET}/submit", None, ("supervisor", "approver", "manager")),
    ("post", f"{SHEET}/reopen", {"assessor": "sup-li", "reason": "typo"}, ("approver",)),
    ("get", "/managers/M1/assessment?period=2026Q1", None, ("auditor", "supervisor", OWNER)),
    ("get", "/managers/M1/annual?year=2026", None,
     ("auditor", "supervisor", "approver", OWNER)),
    ("get", "/managers/M1/standing", None, ("auditor", "supervisor", "approver", OWNER)),
    ("get", "/standings", None, ("supervisor", "approver", "auditor")),
]
SECTION_9 += SECTIONS_12_13

# Principal -> (role, owns M1's data). m2 is a manager too, but of other data.
PRINCIPALS = {
    "integrator": "integrator", "m1": "manager", "m2": "manager", "reviewer": "supervisor",
    "approver": "approver", "auditor": "auditor", "operator": "operator",
}


def admitted(who: str, cell: tuple[str, ...]) -> bool:
    role = PRINCIPALS[who]
    if role == "manager":
        return (who == "m1" and OWNER in cell) or "manager" in cell
    return role in cell


@pytest.fixture
def ids(harness: Harness) -> dict[str, str]:
    """The worked example with an open dispute, a rejected one and a proposed adjustment."""
    harness.register_worked_example()
    found: dict[str, str] = harness.record_worked_example_deductions()
    for code, name in (("S3", "open"), ("C7", "rejected")):
        found[name] = harness.ok(harness.post(f"/deductions/{found[code]}/disputes",
                                              {"reason": "not so"}, "m1"), 201)["id"]
    harness.ok(harness.post(f"/disputes/{found['rejected']}/decision",
                            {"outcome": "rejected", "reason": "stands"}, "reviewer"))
    found["adjustment"] = harness.ok(harness.post("/adjustments", {
        "manager_id": "M1", "period": "2026Q1", "points": 5, "reason": "award"},
        "supervisor"), 201)["id"]
    return found


def call(harness: Harness, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    send = getattr(harness.client, method)
    return send("/api/v1" + path, json=body, headers=headers)


def refusal_kind(response: Any) -> str | None:
    """'role' or 'ownership' when authorisation refused the request, else None."""
    if response.status_code != 403:
        return None
    problem = response.get_json()
    if problem["type"].endswith("wrong-role"):
        return "role"
    return "ownership" if problem.get("rule") in OWNERSHIP_RULES else None


@pytest.mark.parametrize(("method", "template", "body", "cell"), SECTION_9,
                         ids=[f"{m.upper()} {p}" for m, p, _, _ in SECTION_9])
def test_each_route_admits_exactly_the_roles_of_section_9(
    harness: Harness, ids: dict[str, str], method: str, template: str, body: Any,
    cell: tuple[str, ...],
) -> None:
    path = template.format(**ids)
    for who in PRINCIPALS:
        before = harness.events()
        response = call(harness, method, path, body, harness.headers(who))
        kind = refusal_kind(response)
        assert response.status_code != 401, (who, response.get_json())
        if admitted(who, cell):
            assert kind is None, (who, response.get_json())
        else:
            assert kind is not None, (who, response.status_code, response.get_data(as_text=True))
            assert harness.events() == before, f"{who}'s refused request appended events"


def expired_token(harness: Harness) -> str:
    store = TokenStore.of(harness.ledger)
    token = store.create(role="auditor", subject="aud-old", expires_in=timedelta(minutes=1))
    past = datetime.now(UTC) - timedelta(seconds=1)
    with writing(store.engine) as conn:  # SQLite: no roles, the test may age a token
        conn.execute(update(api_tokens).values(expires_at=past).where(
            api_tokens.c.subject == "aud-old"))
    return token


def revoked_token(harness: Harness) -> str:
    store = TokenStore.of(harness.ledger)
    token = store.create(role="auditor", subject="aud-gone")
    assert store.revoke(token)
    return token


@pytest.mark.parametrize("kind", ["none", "bad scheme", "unknown", "revoked", "expired"])
def test_every_route_refuses_a_missing_bad_revoked_or_expired_token_with_401(
    harness: Harness, ids: dict[str, str], kind: str
) -> None:
    headers = {
        "none": lambda: {},
        "bad scheme": lambda: {"Authorization": f"Basic {harness.tokens['auditor']}"},
        "unknown": lambda: {"Authorization": "Bearer lt_not-a-token"},
        "revoked": lambda: {"Authorization": f"Bearer {revoked_token(harness)}"},
        "expired": lambda: {"Authorization": f"Bearer {expired_token(harness)}"},
    }[kind]()
    for method, template, body, _ in SECTION_9:
        before = harness.events()
        response = call(harness, method, template.format(**ids), body, headers)
        assert response.status_code == 401, (template, response.get_data(as_text=True))
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert harness.events() == before


def test_the_openapi_document_names_the_same_roles_as_section_9(
    harness: Harness, ids: dict[str, str]
) -> None:
    spec = harness.client.get("/openapi.json").get_json()["paths"]
    for method, template, _, cell in SECTION_9:
        path = "/api/v1" + template.format(**ids).split("?")[0]
        documented = _operation(spec, method, path)["x-roles"]
        expected = {"manager" if who == OWNER else who for who in cell}
        assert set(documented) == expected, (method, template)


def _operation(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    # The document names parameters ({deduction_id}); the table holds concrete ids.
    for documented, operations in spec.items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(documented))
        if method in operations and re.fullmatch(pattern, path):
            return dict(operations[method])
    raise AssertionError(f"{method} {path} is not in the document")


def test_no_role_may_call_every_route_and_admin_tokens_are_no_longer_issued(
    harness: Harness
) -> None:
    assert "admin" not in ROLES
    with pytest.raises(Exception, match="role"):
        TokenStore.of(harness.ledger).create(role="admin", subject="root")
    for role in ROLES:
        assert any(role not in cell and not (role == "manager" and OWNER in cell)
                   for *_, cell in SECTION_9), role


@pytest.mark.parametrize("who", sorted(PRINCIPALS))
def test_metrics_need_an_operators_token(harness: Harness, who: str) -> None:
    assert harness.client.get("/metrics").status_code == 401
    response = harness.client.get("/metrics", headers=harness.headers(who))
    assert response.status_code == (200 if PRINCIPALS[who] == "operator" else 403)
    if response.status_code == 200:
        assert "ledger_http_requests_total" in response.get_data(as_text=True)
