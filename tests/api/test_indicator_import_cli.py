"""`ledger import indicators FILE.csv`, through click: a report per row, resumable."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from dbsupport import fresh_sqlite_url
from scorecards import standing_in_for_teamwork

from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from ledger.demo import load_demo
from ledger.ids import indicator_report_id
from ledger_cli.imports import import_
from persistence.url import environment_for

HEADER = "indicator,manager_id,period,measured_on,value,source_system,external_id\n"


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch) -> LedgerApplication:
    url = fresh_sqlite_url()
    monkeypatch.setenv("LEDGER_DATABASE_URL", url)
    app = LedgerApplication(env=environment_for(url))
    load_demo(app)
    with acting_as(AuditContext(actor="ops-1", role="operator", request_id="test")):
        app.draft_ruleset(standing_in_for_teamwork())
        app.publish_ruleset("2026.3")
    return app


def test_import_indicators_reports_every_row_and_resumes(
    database: LedgerApplication, tmp_path: Path
) -> None:
    path = tmp_path / "q1.csv"
    path.write_text(HEADER
                    + "avg_deposits,M1,2026Q1,2026-03-31,30000000,CORE,I-1\n"
                    + "npl_ratio,M1,2026Q1,2026-03-31,0.015,CORE,I-2\n"
                    + "deposits,M1,2026Q1,2026-03-31,1,CORE,I-3\n"
                    + "npl_ratio,M9,2026Q1,2026-03-31,0.01,CORE,I-4\n"
                    + "npl_ratio,M1,2026Q1,2026-03-31,0.0.1,CORE,I-5\n", encoding="utf-8")
    before = database.recorder.max_notification_id()
    runner = CliRunner()
    first = runner.invoke(import_, ["indicators", str(path), "--batch-size", "2"])
    assert first.exit_code == 1  # three rows were refused
    rows = list(csv.DictReader(io.StringIO(first.stdout)))
    assert [(r["row"], r["status"]) for r in rows] == [
        ("1", "created"), ("2", "created"), ("3", "invalid"), ("4", "invalid"),
        ("5", "invalid")]
    assert "indicator" in rows[2]["errors"] and "manager_id" in rows[3]["errors"]
    assert "value" in rows[4]["errors"]
    assert database.recorder.max_notification_id() == before + 2
    again = runner.invoke(import_, ["indicators", str(path)])
    assert [r["status"] for r in csv.DictReader(io.StringIO(again.stdout))][:2] == [
        "duplicate", "duplicate"]
    assert database.recorder.max_notification_id() == before + 2
    reported, _ = database.history(indicator_report_id("CORE", "I-2"))[0]
    assert (reported.role, reported.value, reported.ruleset_version) == (
        "operator", Decimal("0.015"), "2026.3")


def test_import_indicators_refuses_a_file_with_missing_columns(
    database: LedgerApplication, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("indicator,manager_id,value\navg_deposits,M1,1\n", encoding="utf-8")
    result = CliRunner().invoke(import_, ["indicators", str(path)])
    assert result.exit_code == 2 and "missing" in result.output
