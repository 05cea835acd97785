"""Idempotency-Key: a repeat replays the first response and appends nothing (DESIGN §9)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

from persistence.engines import engine_for, reading

if TYPE_CHECKING:
    from conftest import Harness

MANAGER = {"id": "M5", "name": "Five", "grade": "C", "unit": "Branch 2"}


def stored_keys(harness: Harness) -> int:
    with reading(engine_for(harness.ledger)) as conn:
        return int(conn.execute(text("SELECT count(*) FROM idempotency")).scalar_one())


class IdempotentCommands:
    def test_the_same_key_and_body_replays_the_first_response_and_appends_nothing(
        self, harness: Harness
    ) -> None:
        first = harness.post("/managers", MANAGER, "supervisor", **{"Idempotency-Key": "k-1"})
        assert first.status_code == 201
        before = harness.events()
        again = harness.post("/managers", MANAGER, "supervisor", **{"Idempotency-Key": "k-1"})
        assert again.status_code == 201
        assert again.get_data() == first.get_data()
        assert again.headers["Idempotent-Replayed"] == "true"
        assert harness.events() == before

    def test_the_same_key_with_another_body_is_409_and_appends_nothing(
        self, harness: Harness
    ) -> None:
        harness.ok(harness.post("/managers", MANAGER, "supervisor", **{"Idempotency-Key": "k-2"}),
                   201)
        problem = harness.refused(409, "post", "/managers", "supervisor",
                                  {**MANAGER, "id": "M6"}, **{"Idempotency-Key": "k-2"})
        assert problem["type"].endswith("idempotency-key-reused")
        # Another route with the same key is another request too.
        harness.refused(409, "post", "/managers/M5/grade", "supervisor",
                        {"grade": "B", "effective_on": "2026-04-01", "reason": "x"},
                        **{"Idempotency-Key": "k-2"})

    def test_the_key_is_stored_in_the_same_append_as_the_events(self, harness: Harness) -> None:
        harness.ok(harness.post("/managers", MANAGER, "supervisor", **{"Idempotency-Key": "k-3"}),
                   201)
        assert stored_keys(harness) == 1
        # A refused request stores no key, so the client may fix the cause and retry.
        harness.refused(409, "post", "/managers", "supervisor", MANAGER,
                        **{"Idempotency-Key": "k-4"})
        assert stored_keys(harness) == 1

    def test_a_batch_with_its_key_replays_the_same_items(self, harness: Harness) -> None:
        harness.register_worked_example()
        batch = {"items": [harness.posting("C1", "5", "K-1"), harness.posting("C2", "6", "K-2")]}
        first = harness.post("/contributions/batch", batch, "integrator",
                             **{"Idempotency-Key": "b-1"})
        before = harness.events()
        again = harness.post("/contributions/batch", batch, "integrator",
                             **{"Idempotency-Key": "b-1"})
        assert again.get_data() == first.get_data()
        assert [i["status"] for i in again.get_json()["items"]] == ["created", "created"]
        assert harness.events() == before


class TestIdempotencyOnSQLite(IdempotentCommands):
    pass


@pytest.mark.postgres
class TestIdempotencyOnPostgreSQL(IdempotentCommands):
    @pytest.fixture
    def harness(self, postgres_harness: Harness) -> Harness:
        return postgres_harness


def test_keys_belong_to_the_token_subject(harness: Harness) -> None:
    harness.ok(harness.post("/managers", MANAGER, "supervisor", **{"Idempotency-Key": "same"}),
               201)
    other = harness.post("/managers", {**MANAGER, "id": "M6"}, "reviewer",
                         **{"Idempotency-Key": "same"})
    assert other.status_code == 201 and "Idempotent-Replayed" not in other.headers


def test_a_malformed_key_is_invalid_input(harness: Harness) -> None:
    problem = harness.refused(422, "post", "/managers", "supervisor", MANAGER,
                              **{"Idempotency-Key": "k" * 201})
    assert "Idempotency-Key" in problem["errors"]


def test_the_same_json_with_other_whitespace_and_key_order_is_the_same_request(
    harness: Harness
) -> None:
    headers = harness.headers("supervisor", **{"Idempotency-Key": "ws",
                                               "Content-Type": "application/json"})
    first = harness.client.post("/api/v1/managers", headers=headers,
                                data='{"id":"M5","name":"Five","grade":"C","unit":"Branch 2"}')
    again = harness.client.post("/api/v1/managers", headers=headers,
                                data='{ "unit": "Branch 2", "grade": "C",\n "name": "Five", '
                                     '"id": "M5" }')
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"


def test_a_concurrent_repeat_that_loses_the_race_for_its_key_replays_the_winner(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = {"Idempotency-Key": "race"}
    target = {"incremental": "100", "reason": "plan"}
    harness.ok(harness.post("/managers", MANAGER, "supervisor"), 201)
    first = harness.put("/managers/M5/targets/2026Q1", target, "supervisor", **key)
    before = harness.events()
    # A repeat runs before anything reads its key (as if both ran at once): ...
    store = harness.ledger.store
    real_find = store.find_request
    calls: list[str] = []

    def find_counted(scope: str, k: str) -> object:
        calls.append("find")
        return real_find(scope, k)

    monkeypatch.setattr(store, "find_request", find_counted)
    again = harness.put("/managers/M5/targets/2026Q1", target, "supervisor", **key)
    # ... so its append fails on the key, rolls back its events, and replays the winner.
    assert calls == ["find"]
    assert again.status_code == 200 and again.get_data() == first.get_data()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert harness.events() == before
