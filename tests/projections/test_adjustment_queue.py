"""The approvers' adjustment queue (projections/adjustment_queue.py): proposed adjustments
without a decision, oldest first, paged by a position cursor, bounded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dbsupport import fresh_sqlite_url
from flask import Flask

from api import LEDGER, create_app
from api.scores_and_pay import read_side_of
from ledger.audit import AuditContext, acting_as
from ledger.errors import InvalidInput
from persistence.url import environment_for
from projections.adjustment_queue import MAX_PAGE, adjustments_awaiting


@pytest.fixture
def app() -> Iterator[Flask]:
    app = create_app({"LEDGER_ENV": environment_for(fresh_sqlite_url())})
    app.extensions[LEDGER].ensure_rulebook()
    yield app
    app.extensions[LEDGER].close()


def test_only_undecided_proposals_wait_oldest_first_a_page_after_a_position(
    app: Flask,
) -> None:
    ledger: Any = app.extensions[LEDGER]
    with acting_as(AuditContext(actor="sup-1", role="supervisor", request_id="r")):
        ledger.register_manager(business_id="M1", name="Li Wei", grade="B", unit="Branch 1")
        made = [ledger.propose_adjustment(manager_id="M1", period="2026Q1", points=points,
                                          reason=f"award {points}").value
                for points in (10, 20, 30)]
    with acting_as(AuditContext(actor="appr-1", role="approver", request_id="r")):
        ledger.decide_adjustment(made[1].id, approved=False, reason="no")
    side = read_side_of(app)
    first = adjustments_awaiting(side, limit=1)
    assert [a.adjustment_id for a in first.items] == [made[0].id]
    assert first.next_after == first.items[0].position
    rest = adjustments_awaiting(side, after=first.next_after, limit=1)
    assert [(a.adjustment_id, a.points) for a in rest.items] == [(made[2].id, 30)]
    assert rest.next_after is None
    assert adjustments_awaiting(side, after=rest.items[0].position).items == ()


@pytest.mark.parametrize("limit", [0, MAX_PAGE + 1])
def test_a_page_is_bounded(app: Flask, limit: int) -> None:
    with pytest.raises(InvalidInput):
        adjustments_awaiting(read_side_of(app), limit=limit)
