"""`ledger verify --views`: a read-model row deleted or changed behind the projections' back
is named by replaying the log into a scratch copy, on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from click.testing import CliRunner
from dbsupport import fresh_sqlite_url, postgres_admin_url, postgres_service_url, reset_postgres

from ledger.application import LedgerApplication
from ledger.demo import load_demo
from ledger_cli.main import main
from persistence.url import environment_for, sqlite_path
from projections.replay_check import check_views
from projections.runner import follow

M1_DEDUCTION = (
    "DELETE FROM rm_deductions WHERE deduction_id = "
    "(SELECT min(deduction_id) FROM rm_deductions WHERE manager_id = 'M1')"
)
M1_SCORE = ("UPDATE rm_figures SET score = score + 60 "
            "WHERE view_name = 'live' AND manager_id = 'M1' AND period = '2026Q1'")


class SQLiteViews:
    @pytest.fixture
    def setup(self) -> Iterator[tuple[LedgerApplication, str]]:
        url = fresh_sqlite_url()
        app = LedgerApplication(env=environment_for(url))
        app.ensure_rulebook()
        load_demo(app)
        follow(app)  # the facts and the live figures, as a worker leaves them
        yield app, url
        app.close()

    def tamper(self, url: str, *statements: str) -> None:
        conn = sqlite3.connect(sqlite_path(url))
        with conn:
            for statement in statements:
                conn.execute(statement)
        conn.close()

    def test_read_models_built_from_the_log_match_its_replay(self, setup: Any) -> None:
        app, url = setup
        differences, compared = check_views(app)
        assert differences == [] and compared > 0
        assert "ok: read models match" in _cli(["verify", "--views"], url)

    def test_a_deleted_deduction_row_is_named(self, setup: Any) -> None:
        app, url = setup
        self.tamper(url, M1_DEDUCTION)
        (difference,) = check_views(app)[0]
        assert (difference.table, difference.column, difference.stored) == (
            "rm_deductions", None, None)
        failed = _cli(["verify", "--views"], url, code=1)
        assert "ok: " in failed  # the chain itself holds...
        assert "VIEWS DIFFER: rm_deductions (deduction_id=" in failed  # ...its read model not
        assert "missing from the read models" in failed

    def test_an_altered_figure_is_named_with_both_values(self, setup: Any) -> None:
        app, url = setup
        self.tamper(url, M1_SCORE)
        (difference,) = check_views(app)[0]
        assert difference.table == "rm_figures" and difference.column == "score"
        assert difference.stored == difference.replayed + 60
        failed = _cli(["verify", "--views"], url, code=1)
        assert "rm_figures (view_name=live, manager_id=M1, period=2026Q1): score is" in failed

    def test_a_row_no_event_makes_is_named(self, setup: Any) -> None:
        app, url = setup
        self.tamper(url, "INSERT INTO rm_adjustment_changes (adjustment_id, position, status) "
                         "VALUES ('forged', 1, 'approved')")
        (difference,) = check_views(app)[0]
        assert difference.table == "rm_adjustment_changes" and difference.replayed is None
        assert difference.describe().endswith("no event of the log makes it")


def _cli(args: list[str], url: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, args, env={"LEDGER_DATABASE_URL": url},
                                catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


class TestSQLite(SQLiteViews):
    pass


class TestPostgreSQL(SQLiteViews):
    @pytest.fixture
    def setup(self) -> Iterator[tuple[LedgerApplication, str]]:
        reset_postgres()
        url = postgres_service_url()
        app = LedgerApplication(env=environment_for(url))
        app.ensure_rulebook()
        load_demo(app)
        follow(app)
        yield app, url
        app.close()

    def tamper(self, url: str, *statements: str) -> None:
        conn = psycopg2.connect(postgres_admin_url())
        try:
            with conn, conn.cursor() as curs:
                for statement in statements:
                    curs.execute(statement)
        finally:
            conn.close()
