"""Round trips of one command on PostgreSQL (issue 18): each is a wait on the database, and
POST /deductions made five. What remains: the append's one (the lock, then the head, the
rule book's version, the row and its link in one statement; several events take two
round trips); the rule book's probe is needed only by a
command that appends nothing, the idempotency key's lookup is its row in the append, and a
manager once seen is not replayed to be found again."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

import persistence.postgres as postgres

if TYPE_CHECKING:
    from conftest import Harness

pytestmark = pytest.mark.postgres


def deduction(code: str) -> dict[str, Any]:
    return {"manager_id": "M1", "rule_code": code, "occurrences": 1, "aggravated": False,
            "effective_on": "2026-02-01", "description": f"{code} found in review"}


def statements_of(harness: Harness, monkeypatch: pytest.MonkeyPatch,
                  request: Callable[[], Any]) -> list[str]:
    sent: list[str] = []
    execute = postgres.TxCursor.execute

    def counting(self: postgres.TxCursor, statement: str | bytes, *args: Any,
                 **kwargs: Any) -> None:
        text = statement.decode() if isinstance(statement, bytes) else statement
        sent.append(text.split(" (")[0][:60])
        execute(self, statement, *args, **kwargs)

    monkeypatch.setattr(postgres.TxCursor, "execute", counting)
    request()
    monkeypatch.undo()
    return sent


def test_a_deduction_with_a_key_takes_one_round_trip(
    postgres_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = postgres_harness
    harness.ok(harness.post("/managers", {"id": "M1", "name": "Li Wei", "grade": "B",
                                          "unit": "Branch 1"}, "supervisor"), 201)
    harness.ok(harness.post("/deductions", deduction("B1"), "supervisor",
                            **{"Idempotency-Key": "warm"}), 201)

    def second() -> None:
        harness.ok(harness.post("/deductions", deduction("B1"), "supervisor",
                                **{"Idempotency-Key": "measured"}), 201)

    sent = statements_of(harness, monkeypatch, second)
    assert len(sent) == 1, sent
    assert sent[0].startswith("SELECT pg_advisory_xact_lock")
    assert not any("find_request" in s or "idempotency" in s.split("INTO")[0] for s in sent)


def test_a_repeat_proves_its_rule_book_with_one_probe(
    postgres_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = postgres_harness
    harness.ok(harness.post("/managers", {"id": "M1", "name": "Li Wei", "grade": "B",
                                          "unit": "Branch 1"}, "supervisor"), 201)
    key = {"Idempotency-Key": "twice"}
    harness.ok(harness.post("/deductions", deduction("B1"), "supervisor", **key), 201)

    def repeat() -> None:
        again = harness.post("/deductions", deduction("B1"), "supervisor", **key)
        assert again.headers["Idempotent-Replayed"] == "true"

    # The append (refused by the key's row: nothing written), the key's record, the
    # events it names, and the probe: its answer read the book no append proved.
    sent = statements_of(harness, monkeypatch, repeat)
    probes = [s for s in sent if "select_events_events_1001" in s]
    assert len(probes) == 1 and sent[-1] == probes[0], sent


def test_a_repeat_and_a_refusal_still_read_the_key(
    postgres_harness: Harness
) -> None:
    harness = postgres_harness
    harness.ok(harness.post("/managers", {"id": "M1", "name": "Li Wei", "grade": "B",
                                          "unit": "Branch 1"}, "supervisor"), 201)
    key = {"Idempotency-Key": "again"}
    first = harness.post("/deductions", deduction("B1"), "supervisor", **key)
    before = harness.events()
    again = harness.post("/deductions", deduction("B1"), "supervisor", **key)
    assert again.status_code == 201 and again.get_data() == first.get_data()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = harness.post("/deductions", deduction("C7"), "supervisor", **key)
    assert other.status_code == 409
    assert harness.events() == before


def test_a_batch_of_new_postings_takes_two_round_trips_and_names_its_last_position(
    postgres_harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = postgres_harness
    harness.ok(harness.post("/customers", {
        "id": "C1", "name": "One", "class": "good", "industry": "x", "chain": None,
        "group": None, "last_year_contribution": "1000"}, "supervisor"), 201)
    items = [{"customer_id": "C1", "booked_on": "2026-02-15", "interest_income": "10",
              "deposit_earnings": "0", "fee_income": "0", "source_system": "CREDIT",
              "external_id": f"P{n}"} for n in range(5)]
    warm = {**items[0], "external_id": "W"}  # the customer seen
    harness.ok(harness.post("/contributions/batch", {"items": [warm]}, "integrator"))
    answers: list[Any] = []

    def batch() -> None:
        answers.append(harness.post("/contributions/batch", {"items": items}, "integrator",
                                    **{"Idempotency-Key": "b"}))

    # The append's two: its unique index is the check for keys already posted.
    sent = statements_of(harness, monkeypatch, batch)
    assert len(sent) == 2, sent
    body = harness.ok(answers[0])
    assert "events" not in body
    assert int(answers[0].headers["Ledger-Position"]) == harness.events()
    assert max(i["position"] for i in body["items"] if "position" in i) == harness.events()
