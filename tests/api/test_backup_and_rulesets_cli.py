"""`ledger backup`/`restore` and `ledger rulesets draft`/`publish` (DESIGN §16), on both back ends.

The backup is taken while another writer records deductions; the restored ledger must pass
`ledger verify` (and `--views`) and answer M1's figures exactly as the source answered them
as known at the restored log's last event.
"""

from __future__ import annotations

import copy
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner
from dbsupport import ADMIN_URL, SERVICE_ROLE, postgres_admin_url, postgres_service_url

from api import LEDGER, create_app
from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from ledger.ruleset_document import default_document
from ledger_cli.main import main
from persistence.scratch import create_database, drop_database, scratch_name, with_database
from persistence.url import environment_for

pytest.importorskip("projections.read_side")

if TYPE_CHECKING:
    from conftest import Harness

Q1 = {"period": "2026Q1", "as_of": "2026-03-31"}
WRITER = AuditContext(actor="sup-1", role="supervisor", request_id="backup-test")


def cli(args: list[str], env: dict[str, str], code: int = 0) -> str:
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def figures(harness: Harness, **cut: str) -> tuple[int, str]:
    score = harness.ok(harness.get("/managers/M1/score", "auditor", **Q1, **cut))
    pay = harness.ok(harness.get("/managers/M1/pay", "approver", **Q1, **cut))
    return score["score"], pay["actual_pay"]


def write_while(url: str, done: threading.Event) -> None:
    """Records B1 deductions against M1 until `done`, through a ledger of its own."""
    app = LedgerApplication(env=environment_for(url))
    try:
        with acting_as(WRITER):
            while not done.is_set():
                app.record_deduction(manager_id="M1", rule_code="B1", occurrences=1,
                                     aggravated=False, effective_on=date(2026, 2, 2),
                                     description="visit not reported")
    finally:
        app.close()


class BackupAndRestore:
    """Subclasses say how to reach the source and a fresh, empty target."""

    def source_env(self, harness: Harness) -> dict[str, str]:
        raise NotImplementedError

    def target(self) -> Iterator[tuple[dict[str, str], str]]:
        raise NotImplementedError

    def test_a_backup_taken_while_writing_restores_to_a_ledger_that_verifies(
        self, harness: Harness, tmp_path: Path
    ) -> None:
        harness.register_worked_example()
        harness.record_worked_example_deductions()
        env = self.source_env(harness)
        file = tmp_path / "ledger.backup"
        done = threading.Event()
        writer = threading.Thread(target=write_while, args=(env["LEDGER_DATABASE_URL"], done))
        before = harness.events()
        writer.start()
        try:
            # The backup starts once the writer is under way, and runs beside it.
            deadline = time.monotonic() + 30
            while harness.events() < before + 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert "backed up" in cli(["backup", str(file)], env)
        finally:
            done.set()
            writer.join()
        # A backup never overwrites a file.
        assert "exists" in cli(["backup", str(file)], env, code=1)
        for target_env, service_url in self.target():
            assert "restored" in cli(["restore", str(file)], target_env)
            assert "ok" in cli(["verify"], target_env)
            assert "read models match" in cli(["verify", "--views"], target_env)
            # A restore never replaces a log that holds events.
            assert "already holds events" in cli(["restore", str(file)], target_env, code=1)
            restored = create_app({"LEDGER_ENV": environment_for(service_url)})
            try:
                copy_ = type(harness)(restored)
                head = int(copy_.ledger.recorder.max_notification_id())
                last = copy_.ledger.store.select_appended(head, head)[-1].recorded_at
                assert head < harness.events(), "the writer kept writing after the backup"
                known_at = last.isoformat()
                assert figures(copy_) == figures(harness, known_at=known_at)
                assert figures(copy_)[0] < 740  # the writer's deductions are in the copy
            finally:
                restored.extensions[LEDGER].close()


class TestBackupOnSQLite(BackupAndRestore):
    def source_env(self, harness: Harness) -> dict[str, str]:
        url = f"sqlite:///{harness.ledger.env['SQLITE_DBNAME']}"
        return {"LEDGER_DATABASE_URL": url, "LEDGER_ADMIN_DATABASE_URL": url}

    def target(self) -> Iterator[tuple[dict[str, str], str]]:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='ledger-restore-')}/ledger.db"
        yield {"LEDGER_DATABASE_URL": url, "LEDGER_ADMIN_DATABASE_URL": url}, url


@pytest.mark.postgres
class TestBackupOnPostgreSQL(BackupAndRestore):
    @pytest.fixture
    def harness(self, postgres_harness: Harness) -> Harness:
        return postgres_harness

    def source_env(self, harness: Harness) -> dict[str, str]:
        return {"LEDGER_DATABASE_URL": postgres_service_url(),
                "LEDGER_ADMIN_DATABASE_URL": postgres_admin_url()}

    def target(self) -> Iterator[tuple[dict[str, str], str]]:
        name = scratch_name(f"ledger_restore_{os.getpid()}")
        create_database(ADMIN_URL, name)
        try:
            service = with_database(ADMIN_URL, name, user=SERVICE_ROLE)
            yield {"LEDGER_DATABASE_URL": service,
                   "LEDGER_ADMIN_DATABASE_URL": with_database(ADMIN_URL, name)}, service
        finally:
            drop_database(ADMIN_URL, name)


# --- rule sets from files ---------------------------------------------------------------


def ruleset_2026_2(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(default_document())
    document.update({"version": "2026.2", "effective_from": "2026-01-01", **changes})
    document["deductions"]["B1"]["points"] = 3
    return document


class RulesetsFromFiles:
    def env(self, harness: Harness) -> dict[str, str]:
        raise NotImplementedError

    def test_a_file_is_drafted_then_its_version_published(
        self, harness: Harness, tmp_path: Path
    ) -> None:
        env = self.env(harness)
        bare, envelope = tmp_path / "2026.2.json", tmp_path / "2026.3.json"
        bare.write_text(json.dumps(ruleset_2026_2()))
        third = ruleset_2026_2(version="2026.3")
        envelope.write_text(json.dumps({"version": "2026.3", "effective_from": "2026-04-01",
                                        "content": third}))
        assert "drafted 2026.2" in cli(["rulesets", "draft", str(bare)], env)
        assert "drafted 2026.3" in cli(["rulesets", "draft", str(envelope)], env)
        assert "published 2026.2" in cli(["rulesets", "publish", "2026.2"], env)
        book = harness.ledger.rulebook()
        assert book.published_versions() == ["2026.1", "2026.2"]
        assert book.content_of("2026.3")["effective_from"] == "2026-04-01"

    def test_refusals_list_every_problem_and_append_nothing(
        self, harness: Harness, tmp_path: Path
    ) -> None:
        env = self.env(harness)
        broken = ruleset_2026_2()
        broken["pay"]["r_stock"] = "lots"
        del broken["disputes"]
        file = tmp_path / "broken.json"
        file.write_text(json.dumps(broken))
        before = harness.events()
        refused = cli(["rulesets", "draft", str(file)], env, code=1)
        assert "pay.r_stock" in refused and "disputes" in refused
        assert "2026.9" in cli(["rulesets", "publish", "2026.9"], env, code=1)
        assert "published" in cli(["rulesets", "publish", "2026.1"], env, code=1)
        file.write_text("{not json")
        assert "not JSON" in cli(["rulesets", "draft", str(file)], env, code=1)
        assert harness.events() == before


class TestRulesetsOnSQLite(RulesetsFromFiles):
    def env(self, harness: Harness) -> dict[str, str]:
        return {"LEDGER_DATABASE_URL": f"sqlite:///{harness.ledger.env['SQLITE_DBNAME']}"}


@pytest.mark.postgres
class TestRulesetsOnPostgreSQL(RulesetsFromFiles):
    @pytest.fixture
    def harness(self, postgres_harness: Harness) -> Harness:
        return postgres_harness

    def env(self, harness: Harness) -> dict[str, str]:
        return {"LEDGER_DATABASE_URL": postgres_service_url()}
