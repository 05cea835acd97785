"""GET /audit/verify: every bad position, the seals and signed heads, and with views=true the
read models checked against a replay of the log."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from dbsupport import postgres_admin_url

from ledger.audit import AuditContext, acting_as
from persistence.seal import KEY_FILE_ENV, generate_key_file
from persistence.url import sqlite_path

DELETE_A_DEDUCTION = ("DELETE FROM rm_deductions WHERE deduction_id = "
                      "(SELECT min(deduction_id) FROM rm_deductions WHERE manager_id = 'M1')")


def _with_read_models(harness: Any) -> None:
    harness.register_worked_example()
    harness.record_worked_example_deductions()
    # A query catches the read models up inline: they now hold M1's deductions.
    harness.ok(harness.get("/managers/M1/score", "supervisor", period="2026Q1"))


def _tamper_sqlite(harness: Any, statement: str) -> None:
    path = sqlite_path("sqlite:///" + harness.ledger.recorder.datastore.pool.db_name)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(statement)
    conn.close()


def _tamper_postgres(_: Any, statement: str) -> None:
    conn = psycopg2.connect(postgres_admin_url())
    try:
        with conn, conn.cursor() as curs:
            curs.execute(statement)
    finally:
        conn.close()


def test_verify_without_views_says_nothing_of_them(harness: Any) -> None:
    harness.register_worked_example()
    result = harness.ok(harness.get("/audit/verify", "auditor"))
    assert result["ok"] is True and result["views"] is None
    assert result["problems"] == [] and result["keyed"] is False


def test_read_models_that_match_the_replay_verify(harness: Any) -> None:
    _with_read_models(harness)
    result = harness.ok(harness.get("/audit/verify", "auditor", views="true"))
    assert result["ok"] is True
    assert result["views"]["ok"] is True and result["views"]["compared"] > 0


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_deleted_read_model_row_is_named_over_http(
    backend: str, request: pytest.FixtureRequest
) -> None:
    harness = request.getfixturevalue(f"{backend}_harness")
    _with_read_models(harness)
    tamper = _tamper_sqlite if backend == "sqlite" else _tamper_postgres
    tamper(harness, DELETE_A_DEDUCTION)
    result = harness.ok(harness.get("/audit/verify", "auditor", views="true"))
    assert result["ok"] is False and result["problems"] == []  # the log itself holds
    first = result["views"]["differences"][0]
    assert first["table"] == "rm_deductions" and first["column"] is None
    assert first["stored"] is None and "deduction_id" in first["key"]
    assert "missing from the read models" in first["detail"]


def test_an_altered_read_model_row_is_named_with_its_column(harness: Any) -> None:
    _with_read_models(harness)
    _tamper_sqlite(harness, "UPDATE rm_deductions SET occurrences = occurrences + 1 "
                            "WHERE manager_id = 'M1'")
    result = harness.ok(harness.get("/audit/verify", "auditor", views="true"))
    first = result["views"]["differences"][0]
    assert (first["table"], first["column"]) == ("rm_deductions", "occurrences")
    assert int(first["stored"]) == int(first["replayed"]) + 1


def test_verify_lists_every_bad_position_over_http(harness: Any) -> None:
    harness.register_worked_example()
    for position in (4, 6):
        _tamper_sqlite(harness, "DROP TRIGGER IF EXISTS events_no_update")
        _tamper_sqlite(harness, "UPDATE events SET state = CAST(replace(CAST(state AS TEXT), "
                                f"'a', 'b') AS BLOB) WHERE position = {position}")
    result = harness.ok(harness.get("/audit/verify", "auditor"))
    assert [(p["position"], p["kind"]) for p in result["problems"]] == [
        (4, "altered"), (6, "altered")]
    assert result["first_bad"]["position"] == 4


def test_views_is_a_boolean(harness: Any) -> None:
    assert harness.get("/audit/verify", "auditor", views="maybe").status_code == 422


def test_verify_checks_the_seals_with_the_keys_of_the_api_process(
    harness: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "chain.key"
    key_id = generate_key_file(key_file)
    monkeypatch.setenv(KEY_FILE_ENV, str(key_file))
    with acting_as(AuditContext(actor="ops", role="operator", request_id="r")):
        harness.ledger.rotate_chain_key(key_id, reason="first key")
    harness.register_worked_example()  # sealed by the API's own appends
    result = harness.ok(harness.get("/audit/verify", "auditor"))
    assert result["ok"] is True and result["keyed"] is True
    assert result["key_in_force"] == key_id
    monkeypatch.setenv(KEY_FILE_ENV, "")  # an API that lost its key still checks the order
    result = harness.ok(harness.get("/audit/verify", "auditor"))
    assert result["ok"] is True and result["keyed"] is False
