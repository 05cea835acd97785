"""Aggregate ids: deterministic from business ids, so a repeat finds the same aggregate."""

from __future__ import annotations

import json
from uuid import UUID, uuid4, uuid5

# Fixed forever: changing it would orphan every stored aggregate.
LEDGER_NAMESPACE = UUID("6f1c2b0e-4a43-5d1e-9a57-3c1b8e0f5a21")


# json.dumps with an argument builds an encoder per call: half of deriving an id (issue 18).
_PARTS = json.JSONEncoder(ensure_ascii=False).encode


def _derive(kind: str, *parts: str) -> UUID:
    # JSON-encoding the parts keeps ("a:b", "c") and ("a", "b:c") apart.
    return uuid5(LEDGER_NAMESPACE, f"{kind}:{_PARTS(list(parts))}")


def manager_id(business_id: str) -> UUID:
    """The aggregate id of manager `business_id` (e.g. "M1")."""
    return _derive("manager", business_id)


def customer_id(business_id: str) -> UUID:
    """The aggregate id of customer `business_id` (e.g. "C1")."""
    return _derive("customer", business_id)


def rulebook_id() -> UUID:
    """The id of the one rule book that holds every rule-set version."""
    return _derive("rulebook")


def period_id(period: str) -> UUID:
    """The aggregate id of quarter `period` (e.g. "2026Q1")."""
    return _derive("period", period)


def contribution_id(source_system: str, external_id: str) -> UUID:
    """The id of a contribution posting, from the keys its source system gave it."""
    return _derive("contribution", source_system, external_id)


def deduction_external_id(source_system: str, external_id: str) -> UUID:
    """The id of a deduction posted by an integrator, from its source keys."""
    return _derive("deduction", source_system, external_id)


def new_id() -> UUID:
    """A fresh random id, for deductions, disputes and adjustments without source keys."""
    return uuid4()


def indicator_report_id(source_system: str, external_id: str) -> UUID:
    """The id of a raw indicator report, from the keys its source system gave it."""
    return _derive("indicator_report", source_system, external_id)
