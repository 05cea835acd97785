"""The portfolio policy of DESIGN §3.4 on (re)assignment: refusals, and warnings in the answer."""

from __future__ import annotations

from typing import Any

Harness = Any  # the fixture's class lives in tests/api/conftest.py (not importable)


def customer(cid: str, last_year: str, customer_class: str = "good") -> dict[str, Any]:
    return {"id": cid, "name": f"Customer {cid}", "class": customer_class,
            "industry": "manufacturing", "chain": None, "group": None,
            "last_year_contribution": last_year}


def _manager(harness: Harness, manager_id: str, grade: str) -> None:
    harness.ok(harness.post("/managers", {"id": manager_id, "name": manager_id, "grade": grade,
                                          "unit": "Branch 1"}, "supervisor"), 201)


def _assign(harness: Harness, customer_id: str, manager_id: str) -> Any:
    return harness.post(f"/customers/{customer_id}/assignments", {
        "manager_id": manager_id, "effective_on": "2026-01-01", "reason": "opening"},
        "supervisor")


def test_a_customer_split_from_its_group_is_assigned_with_a_warning(harness: Harness) -> None:
    _manager(harness, "M1", "A")
    _manager(harness, "M2", "A")
    for cid in ("G1", "G2"):
        harness.ok(harness.post("/customers", {**customer(cid, "1000"), "group": "East Group"},
                                "supervisor"), 201)
    assert harness.ok(_assign(harness, "G1", "M1"))["warnings"] == []
    split = harness.ok(_assign(harness, "G2", "M2"))
    assert [w["code"] for w in split["warnings"]] == ["group_split"]
    assert split["warnings"][0]["rule"] == "OneGroupOnePortfolio"
    assert "M1" in split["warnings"][0]["message"]


def test_a_manager_above_the_span_of_control_is_warned(harness: Harness) -> None:
    # Four managers share eight customers two each; the bound is 1.5 x 8 / 4 = 3.
    managers = ("M1", "M2", "M3", "M4")
    for manager_id in managers:
        _manager(harness, manager_id, "A")
    for n in range(1, 9):
        harness.ok(harness.post("/customers", customer(f"C{n}", "1000"), "supervisor"), 201)
        assert harness.ok(_assign(harness, f"C{n}", managers[(n - 1) % 4]))["warnings"] == []
    assert harness.ok(_assign(harness, "C6", "M1"))["warnings"] == []  # M1 holds 3: at the bound
    over = harness.ok(_assign(harness, "C7", "M1"))  # M1 would hold 4: above it
    assert [w["code"] for w in over["warnings"]] == ["span_of_control"]
    assert over["warnings"][0]["rule"] == "SpanOfControl"


def test_a_premium_customer_is_refused_to_a_grade_b_manager(harness: Harness) -> None:
    _manager(harness, "M1", "B")
    harness.ok(harness.post("/customers", customer("P1", "1000", "premium"), "supervisor"), 201)
    problem = harness.refused(409, "post", "/customers/P1/assignments", "supervisor", {
        "manager_id": "M1", "effective_on": "2026-01-01", "reason": "try"})
    assert problem["rule"] == "PremiumCustomersNeedTheRequiredGrade"
