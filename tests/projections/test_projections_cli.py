"""`ledger projections …` end to end: the worked example and a retroactive rule change,
through the command line, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ledger.application import LedgerApplication
from ledger_cli.projections import projections
from projections import runner
from projections.database import database_url, engine_for
from projections.materialised import LIVE, figure_of

ROOT = Path(__file__).resolve().parents[2]


def cli(app: LedgerApplication, *args: str, exit_code: int = 0) -> str:
    result = CliRunner().invoke(
        projections, list(args), env={"LEDGER_DATABASE_URL": database_url(app)},
        catch_exceptions=False,
    )
    assert result.exit_code == exit_code, result.output
    return result.output


class SQLiteCommands:
    @pytest.fixture
    def app(self, sqlite_ledger: LedgerApplication) -> LedgerApplication:
        return sqlite_ledger

    def test_the_worked_example_through_the_command_line(
        self, app: LedgerApplication, example: Any
    ) -> None:
        example.all_steps()
        head = app.recorder.max_notification_id()

        # Rebuild, then status: both projections at the head, no lag.
        assert f"rebuilt live at position {head}" in cli(app, "rebuild")
        status = cli(app, "status")
        assert f"projection:facts             position={head}" in status
        assert status.count("lag=0") == 2

        # Now: 940 and 33815.00; as known before the decision: 740 and 32365.00.
        now = cli(app, "show", "M1", "2026Q1")
        assert "score 940 (excellent)" in now and "actual_pay 33815.00" in now
        before = example.known_before("decided").isoformat()
        then = cli(app, "show", "M1", "2026Q1", "--known-at", before, "--explain")
        assert "score 740 (satisfactory)" in then and "actual_pay 32365.00" in then
        assert "Deduction.Recorded S3 -200" in then

    def test_a_retroactive_rule_change_previewed_diffed_published_and_rebuilt(
        self, app: LedgerApplication, example: Any
    ) -> None:
        example.all_steps()
        cli(app, "rebuild")
        example.draft_retroactive()

        # A shadow under the draft, and the diff: what changes, by how much, and why.
        assert "rebuilt draft" in cli(app, "rebuild", "--shadow", "draft", "--ruleset", "2026.2")
        diff = cli(app, "diff", "live", "draft")
        assert "M1 2026Q1  (rules 2026.1 -> 2026.2" in diff
        assert "score              940 -> 880  delta -60" in diff
        assert "actual_pay         33815.00 -> 33600.00  delta -215.00" in diff
        assert "because score.points_to_score: 10 -> 20" in diff
        assert "because pay.r_over: 0.08 -> 0.10" in diff
        assert "Deduction.Recorded B1 active: effect -10 -> -20" in diff

        # Published: now 880 / 33600.00; as known before the publication, still 940.
        example.publish()
        cli(app, "rebuild")
        assert "no differences" in cli(app, "diff", "live", "draft")
        assert "actual_pay 33600.00" in cli(app, "show", "M1", "2026Q1")
        before = example.known_before("published 2026.2").isoformat()
        assert "score 940" in cli(app, "show", "M1", "2026Q1", "--known-at", before)

    def test_the_live_view_refuses_a_rule_set_of_its_own(self, app: LedgerApplication) -> None:
        assert "add --shadow NAME" in cli(app, "rebuild", "--ruleset", "2026.1", exit_code=2)

    def test_a_worker_pass_catches_everything_up(
        self, app: LedgerApplication, example: Any
    ) -> None:
        example.all_steps()
        head = app.recorder.max_notification_id()
        assert f"caught up to position {head}" in cli(app, "run", "--once")
        assert cli(app, "status").count("lag=0") == 2


    def test_a_worker_process_follows_the_log_until_terminated(
        self, app: LedgerApplication, example: Any
    ) -> None:
        env = {**os.environ, "LEDGER_DATABASE_URL": database_url(app)}
        worker = subprocess.Popen(
            [sys.executable, "-m", "ledger_cli.projections", "run", "--poll", "0.05"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            # Commands append while the worker runs; it brings the live view to the head.
            example.all_steps()
            head = app.recorder.max_notification_id()
            deadline = time.monotonic() + 20
            while {s.position for s in runner.status(app)} != {head}:
                assert time.monotonic() < deadline, "the worker did not catch up"
                time.sleep(0.05)
            live = figure_of(engine_for(app), LIVE, "M1", "2026Q1")
            assert live is not None and live["actual_pay"] == Decimal("33815.00")
        finally:
            worker.send_signal(signal.SIGTERM)
            _, err = worker.communicate(timeout=20)
        assert worker.returncode == 0, err.decode()
        assert "stopped" in err.decode()


class TestSQLiteCommands(SQLiteCommands):
    pass


@pytest.mark.postgres
class TestPostgreSQLCommands(SQLiteCommands):
    @pytest.fixture
    def app(self, postgres_ledger: LedgerApplication) -> LedgerApplication:
        return postgres_ledger
