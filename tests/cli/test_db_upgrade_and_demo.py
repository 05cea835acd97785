"""`ledger db upgrade` and `ledger demo`, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from dbsupport import postgres_admin_url, postgres_service_url, reset_postgres

from ledger.application import LedgerApplication
from ledger_cli.main import main
from persistence.url import environment_for


def _run(args: list[str], env: dict[str, str]) -> str:
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _check_demo(url: str, env: dict[str, str]) -> None:
    from persistence.schema import head_revision

    assert f"revision {head_revision()}" in _run(["db", "upgrade"], env)
    assert "demo bank loaded" in _run(["demo"], env)
    # A database that holds data is refused, unless the operator insists (issue 12).
    again = CliRunner().invoke(main, ["demo"], env=env, catch_exceptions=False)
    assert again.exit_code == 2 and "already holds data" in again.output
    assert "already loaded" in _run(["demo", "--force"], env)
    app = LedgerApplication(env=environment_for(url))
    assert app.manager("M1").grade == "B"
    assert app.rulebook().published_versions() == ["2026.1"]


def test_upgrade_then_demo_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    _check_demo(url, {"LEDGER_DATABASE_URL": url})


@pytest.mark.postgres
def test_upgrade_as_owner_then_demo_as_the_service_role_on_postgres() -> None:
    reset_postgres()
    url = postgres_service_url()
    env = {"LEDGER_DATABASE_URL": url, "LEDGER_ADMIN_DATABASE_URL": postgres_admin_url()}
    _check_demo(url, env)
