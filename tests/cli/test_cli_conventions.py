"""The `ledger` command as an operator meets it (issue 20): --version, --json, one line and
a non-zero exit for a refusal, and no database created by a command that only reads."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from ledger_cli.errors import DATABASE_EXIT
from ledger_cli.main import main

ROOT = Path(__file__).resolve().parents[2]
READING_COMMANDS = (["verify"], ["projections", "status"], ["projections", "show", "M1", "2026Q1"],
                    ["projections", "diff", "live", "live"], ["token", "list"])


def _invoke(args: list[str], url: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, args, env={"LEDGER_DATABASE_URL": url},
                                catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def demo_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/ledger.db"
    for args in (["db", "upgrade"], ["demo"]):
        code, output = _invoke(args, url)
        assert code == 0, output
    return url


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("ledger, version ")


@pytest.mark.parametrize("args", READING_COMMANDS, ids=" ".join)
def test_a_reading_command_on_a_missing_sqlite_file_fails_and_creates_nothing(
    tmp_path: Path, args: list[str]
) -> None:
    missing = tmp_path / "nowhere.db"
    code, output = _invoke(args, f"sqlite:///{missing}")
    assert code == DATABASE_EXIT, output
    assert f"no database at {missing}" in output
    assert "Traceback" not in output
    assert not missing.exists()


@pytest.mark.parametrize("args", READING_COMMANDS, ids=" ".join)
def test_a_reading_command_on_an_unmigrated_database_says_to_migrate(
    tmp_path: Path, args: list[str]
) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()  # a file, but no tables
    code, output = _invoke(args, f"sqlite:///{empty}")
    assert code == DATABASE_EXIT, output
    assert "not migrated: run `ledger db upgrade`" in output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 1, output


def test_domain_errors_are_one_line_and_exit_1(demo_url: str) -> None:
    code, output = _invoke(["projections", "show", "M9", "2026Q1"], demo_url)
    assert code == 1, output
    assert output.strip().startswith("Error: Not found:"), output
    assert len(output.strip().splitlines()) == 1, output
    code, output = _invoke(["projections", "diff", "live", "nosuch"], demo_url)
    assert code == 1, output
    assert "no view named nosuch" in output and "Traceback" not in output


def test_an_unexpected_error_through_the_real_console_script_has_no_traceback(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "absent.db"
    run = subprocess.run([sys.executable, "-c", "from ledger_cli.main import main; main()",
                          "verify"], cwd=ROOT, capture_output=True, text=True,
                         env={"LEDGER_DATABASE_URL": f"sqlite:///{missing}", "PATH": ""})
    assert run.returncode == DATABASE_EXIT
    assert run.stderr.strip().splitlines() == [
        f"Error: no database at {missing} (nothing was created): check LEDGER_DATABASE_URL, "
        "or create it with `ledger db upgrade`"]
    assert not missing.exists()


def test_json_output_of_verify_status_show_diff_and_token_list(demo_url: str) -> None:
    code, output = _invoke(["verify", "--json"], demo_url)
    assert code == 0, output
    verified = json.loads(output)
    assert verified["ok"] is True and verified["checked"] > 0 and verified["problems"] == []

    code, output = _invoke(["projections", "status", "--json"], demo_url)
    assert code == 0, output
    rows = json.loads(output)
    assert {"name", "position", "head", "lag"} <= set(rows[0])

    code, output = _invoke(["projections", "show", "M1", "2026Q1", "--json"], demo_url)
    assert code == 0, output
    shown = json.loads(output)
    assert isinstance(shown["score"]["score"], int)
    assert shown["pay"]["actual_pay"].replace(".", "").isdigit()  # a decimal string

    code, output = _invoke(["projections", "diff", "live", "live", "--json"], demo_url)
    assert code == 0, output
    assert json.loads(output) == []

    code, output = _invoke(["token", "list", "--json"], demo_url)
    assert code == 0, output
    tokens = json.loads(output)
    assert {t["role"] for t in tokens} >= {"supervisor", "operator"}
    assert all(t["state"] == "live" and "secret" not in t for t in tokens)


@pytest.mark.postgres
def test_a_reading_command_on_an_unmigrated_postgres_database_says_to_migrate() -> None:
    from dbsupport import ADMIN_URL, require_postgres

    from persistence.scratch import create_database, drop_database, scratch_name, with_database

    require_postgres()
    name = scratch_name("ledger_cli_unmigrated")
    create_database(ADMIN_URL, name)
    try:
        for args in (["verify"], ["projections", "status"], ["token", "list"]):
            code, output = _invoke(args, with_database(ADMIN_URL, name))
            assert code == DATABASE_EXIT, (args, output)
            assert "not migrated: run `ledger db upgrade`" in output, output
            assert "Traceback" not in output
    finally:
        drop_database(ADMIN_URL, name)


@pytest.mark.postgres
def test_a_postgres_server_that_is_away_is_one_line_and_exit_3() -> None:
    code, output = _invoke(["verify"], "postgresql://postgres@127.0.0.1:1/nowhere")
    assert code == DATABASE_EXIT, output
    assert output.startswith("Error: the database is unavailable: "), output
    assert len(output.strip().splitlines()) == 1, output
