"""A batch appends its new postings as Posted events alone, without building aggregates:
the rows it stores are the ones the aggregate's path (`Contribution.post`) would store,
byte for byte but for the event's own timestamp, on SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from dbsupport import fresh_sqlite_url, postgres_service_url, reset_postgres

from ledger.application import ItemOutcome, LedgerApplication, _note, _outcomes_note
from ledger.audit import AuditContext, acting_as
from ledger.contribution import Contribution
from persistence.url import environment_for

SUPERVISOR = AuditContext(actor="sup-1", role="supervisor", request_id="req-1")
CREDIT = AuditContext(actor="credit-system", role="integrator", request_id="req-4",
                      source_system="CREDIT", external_id="file-7")
TIMESTAMP = re.compile(rb'"timestamp":\{"_type_":"datetime_iso","_data_":"[^"]+"\}')


def items() -> list[dict[str, Any]]:
    return [
        {"customer_id": "C1", "booked_on": date(2026, 2, 15), "interest_income": Decimal("10.50"),
         "deposit_earnings": Decimal("0"), "fee_income": Decimal("-3"),
         "source_system": "CREDIT", "external_id": "P-1"},
        {"customer_id": "C2", "booked_on": date(2026, 3, 31), "interest_income": Decimal("7"),
         "deposit_earnings": Decimal("1.25"), "fee_income": Decimal("0"),
         "risk_cost": Decimal("2.00"), "source_system": "CREDIT", "external_id": "P-2"},
    ]


def without_timestamp(state: bytes) -> bytes:
    assert len(TIMESTAMP.findall(state)) == 1, state
    return TIMESTAMP.sub(b'"timestamp":null', state)


def register_customers(app: LedgerApplication) -> None:
    """C1 and C2, the customers `items()` posts to."""
    with acting_as(SUPERVISOR):
        for cid in ("C1", "C2"):
            app.register_customer(business_id=cid, name=cid, customer_class="good",
                                  industry="x", chain=None, group=None,
                                  last_year_contribution=Decimal(1000))


class SQLiteBatch:
    @pytest.fixture
    def app(self) -> LedgerApplication:
        return LedgerApplication(env=environment_for(fresh_sqlite_url()))

    def test_a_batch_stores_what_the_aggregates_path_would_store(
        self, app: LedgerApplication
    ) -> None:
        register_customers(app)
        with acting_as(CREDIT):
            made = app.post_contributions(items())
            # What the one-posting path builds for the same input, through the same mapper.
            expected = [app.mapper.to_stored_event(Contribution.post(**i).collect_events()[0])
                        for i in items()]
        assert [o.status for o in made.value] == ["created", "created"]
        for want in expected:
            (stored,) = app.recorder.select_events(want.originator_id)
            assert (stored.topic, stored.originator_version) == (want.topic, 1)
            assert without_timestamp(stored.state) == without_timestamp(want.state)
            # The library reads it back into the aggregate the path would have built.
            posting = app.repository.get(want.originator_id)
            assert isinstance(posting, Contribution)
            built = Contribution.post(**next(i for i in items()
                                             if i["external_id"] == posting.external_id))
            assert {k: v for k, v in vars(posting).items() if not k.startswith("_")} == {
                k: v for k, v in vars(built).items() if not k.startswith("_")}

    def test_a_batch_meeting_posted_keys_appends_only_the_new_ones(
        self, app: LedgerApplication
    ) -> None:
        register_customers(app)
        first, second = items()
        with acting_as(CREDIT):
            app.post_contributions([first])
            before = app.recorder.max_notification_id()
            # The first append fails on P-1's stored row; the retry knows it is posted.
            changed = {**first, "interest_income": Decimal("11")}
            made = app.post_contributions([second, first, changed, second])
        assert [o.status for o in made.value] == ["created", "duplicate", "conflict",
                                                  "duplicate"]
        assert [e.originator_id for e in made.receipt.events] == [
            made.value[0].contribution_id]
        assert app.recorder.max_notification_id() == (before or 0) + 1


class TestSQLite(SQLiteBatch):
    pass


@pytest.mark.postgres
class TestPostgreSQL(SQLiteBatch):
    @pytest.fixture
    def app(self) -> LedgerApplication:
        reset_postgres()
        return LedgerApplication(env=environment_for(postgres_service_url()))


def test_a_batchs_note_is_the_generic_note_of_its_outcomes_byte_for_byte() -> None:
    outcomes = [ItemOutcome(0, "created", uuid4()), ItemOutcome(1, "conflict", uuid4()),
                ItemOutcome(2, "invalid", errors={"booked_on": ["Not a valid date."]})]
    assert _outcomes_note(outcomes) == _note(outcomes=outcomes)
