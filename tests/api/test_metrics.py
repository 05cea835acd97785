"""What /metrics adds beyond requests (issue 20): idempotent replays, append latency,
connection-pool use and projection lag; its content type names the charset once."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Harness


def _metrics(harness: Harness) -> str:
    answer = harness.client.get("/metrics", headers=harness.headers("operator"))
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].count("charset") == 1, answer.headers["Content-Type"]
    return answer.get_data(as_text=True)


def _value(text: str, sample: str) -> float:
    found = re.search(r"^" + re.escape(sample) + r" (\S+)$", text, re.M)
    assert found, f"{sample} not in:\n{text[:3000]}"
    return float(found.group(1))


def test_replays_append_latency_pools_and_projection_lag(harness: Harness) -> None:
    body = {"id": "M7", "name": "Seven", "grade": "C", "unit": "Branch 3"}
    for _ in range(3):  # the first appends; the next two are replays
        answer = harness.post("/managers", body, "supervisor", **{"Idempotency-Key": "k-7"})
        assert answer.status_code == 201
    text = _metrics(harness)
    assert _value(text, 'ledger_idempotent_replays_total{route="/api/v1/managers"}') == 2.0
    appends = _value(text, "ledger_append_seconds_count")
    assert appends >= 1.0
    assert _value(text, 'ledger_append_seconds_bucket{le="+Inf"}') == appends
    assert _value(text, 'ledger_db_connections_capacity{pool="read_side"}') >= 1.0
    assert 'ledger_db_connections_in_use{pool="read_side"}' in text
    head = harness.events()
    # The projections have not been run: each is the whole log behind.
    assert _value(text, 'ledger_projection_lag_events{projection="projection:facts"}') == head
    harness.ok(harness.get("/managers/M7/score", "auditor"))  # a query catches up first
    caught_up = _metrics(harness)
    assert _value(caught_up, 'ledger_projection_lag_events{projection="projection:facts"}') == 0.0
    assert _value(caught_up, 'ledger_projection_position{projection="projection:facts"}') == head
