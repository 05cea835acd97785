"""Tamper with the stored log directly, as its owner, and watch verify name the position.

Each case changes the database behind the ledger's back (taking the maintenance path
the append-only triggers demand), then checks what `verify` says and where.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from click.testing import CliRunner
from dbsupport import fresh_sqlite_url, postgres_admin_url, postgres_service_url, reset_postgres

from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from ledger_cli.main import main
from persistence.records import GENESIS_LINK, chain_link, from_micros, state_digest
from persistence.url import environment_for, sqlite_path
from persistence.verify import verify

SUPERVISOR = AuditContext(actor="sup-1", role="supervisor", request_id="r")
EVENTS = 30  # the rule book's 3 events + 27 managers


def build_log(app: LedgerApplication) -> None:
    app.ensure_rulebook()
    with acting_as(SUPERVISOR):
        for n in range(EVENTS - 3):
            app.register_manager(business_id=f"M{n}", name=f"M {n}", grade="B", unit="U")


class SQLiteTamper:
    """Runs every case on SQLite; the PostgreSQL class below reuses them."""

    @pytest.fixture
    def setup(self) -> Iterator[tuple[LedgerApplication, str]]:
        url = fresh_sqlite_url()
        app = LedgerApplication(env=environment_for(url))
        build_log(app)
        yield app, url

    def tamper(self, url: str, *statements: str) -> None:
        conn = sqlite3.connect(sqlite_path(url), isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            # The maintenance path on SQLite: drop the append-only triggers.
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'"):
                conn.execute(f"DROP TRIGGER {name}")
            for statement in statements:
                conn.execute(statement)
            conn.execute("COMMIT")
        finally:
            conn.close()

    def flip_byte_sql(self, position: int) -> str:
        return (
            f"UPDATE events SET state = CAST(replace(CAST(state AS TEXT), 'M', 'N') AS BLOB) "
            f"WHERE position = {position}"
        )

    def forged_row_sql(self, position: int, source: int) -> str:
        return (
            "INSERT INTO events (position, originator_id, originator_version, topic, state, "
            f"recorded_at) SELECT {position}, originator_id || '', originator_version + 100, "
            f"topic, state, recorded_at FROM events WHERE position = {source}"
        )

    def rewrite_chain(self, url: str) -> None:
        conn = sqlite3.connect(sqlite_path(url))
        rows = conn.execute(
            "SELECT position, originator_id, originator_version, topic, state, recorded_at "
            "FROM events ORDER BY position"
        ).fetchall()
        conn.close()
        links, link = [], GENESIS_LINK
        for p, o, v, t, s, r in rows:
            link = chain_link(link, p, o, v, t, state_digest(bytes(s)), from_micros(r))
            links.append(f"UPDATE event_chain SET link = x'{link.hex()}' WHERE position = {p}")
        self.tamper(url, *links)

    # --- the cases ---------------------------------------------------------------

    def test_an_untampered_log_verifies(self, setup: Any) -> None:
        app, _ = setup
        result = verify(app.recorder)
        assert (result.ok, result.checked, result.first_bad) == (True, EVENTS, None)

    def test_one_changed_byte_of_a_state_is_named_altered_at_its_position(self, setup: Any) -> None:
        app, url = setup
        self.tamper(url, self.flip_byte_sql(10))
        assert _first_bad(app) == (10, "altered")

    def test_a_deleted_row_is_named_missing_at_its_position(self, setup: Any) -> None:
        app, url = setup
        self.tamper(url, "DELETE FROM events WHERE position = 10",
                    "DELETE FROM event_chain WHERE position = 10")
        assert _first_bad(app) == (10, "missing")

    def test_two_swapped_rows_are_named_reordered(self, setup: Any) -> None:
        app, url = setup
        self.tamper(
            url,
            "UPDATE events SET position = -10 WHERE position = 10",
            "UPDATE events SET position = 10 WHERE position = 12",
            "UPDATE events SET position = 12 WHERE position = -10",
        )
        assert _first_bad(app) == (10, "reordered")

    def test_a_forged_row_inserted_in_the_middle_is_named_inserted(self, setup: Any) -> None:
        app, url = setup
        self.tamper(
            url,
            "UPDATE events SET position = position + 1000 WHERE position >= 10",
            "UPDATE events SET position = position - 999 WHERE position >= 1000",
            self.forged_row_sql(10, 11),
        )
        assert _first_bad(app) == (10, "inserted")

    def test_a_forged_row_appended_without_a_link_is_named_inserted(self, setup: Any) -> None:
        app, url = setup
        self.tamper(url, self.forged_row_sql(EVENTS + 1, 5))
        assert _first_bad(app) == (EVENTS + 1, "inserted")

    def test_a_truncated_tail_of_events_is_named_missing(self, setup: Any) -> None:
        app, url = setup
        self.tamper(url, "DELETE FROM events WHERE position > 20")
        assert _first_bad(app) == (21, "missing")

    def test_the_exported_head_catches_a_tail_truncated_with_its_links(
        self, setup: Any, tmp_path: Path
    ) -> None:
        app, url = setup
        env = _cli_env(url, tmp_path)
        _cli(["verify", "--export-head", str(tmp_path / "head.json")], env)
        assert "ok: 30 events" in _cli(["verify", "--against", str(tmp_path / "head.json")], env)
        self.tamper(url, "DELETE FROM events WHERE position > 20",
                    "DELETE FROM event_chain WHERE position > 20")
        assert verify(app.recorder).ok  # what is left is a consistent chain...
        failed = _cli(["verify", "--against", str(tmp_path / "head.json")], env, code=1)
        assert "position 21: missing" in failed  # ...but it no longer reaches the head

    def test_a_rewritten_history_fails_against_the_exported_head(
        self, setup: Any, tmp_path: Path
    ) -> None:
        app, url = setup
        env = _cli_env(url, tmp_path)
        _cli(["verify", "--export-head", str(tmp_path / "head.json")], env)
        self.tamper(url, self.flip_byte_sql(10))
        self.rewrite_chain(url)
        assert verify(app.recorder).ok  # the forger recomputed every link...
        failed = _cli(["verify", "--against", str(tmp_path / "head.json")], env, code=1)
        assert f"position {EVENTS}: altered" in failed  # ...but cannot match the signed head


def _first_bad(app: LedgerApplication) -> tuple[int, str]:
    result = verify(app.recorder)
    assert not result.ok and result.first_bad is not None
    return result.first_bad.position, result.first_bad.kind


def _cli_env(url: str, tmp_path: Path) -> dict[str, str]:
    key = tmp_path / "head-key.pem"
    if not key.exists():
        _cli(["head-key", "generate", str(key)], {})
    return {"LEDGER_DATABASE_URL": url, "LEDGER_HEAD_KEY_FILE": str(key)}


def _cli(args: list[str], env: dict[str, str], code: int = 0) -> str:
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


class TestSQLite(SQLiteTamper):
    pass


class TestPostgreSQL(SQLiteTamper):
    @pytest.fixture
    def setup(self) -> Iterator[tuple[LedgerApplication, str]]:
        reset_postgres()
        url = postgres_service_url()
        app = LedgerApplication(env=environment_for(url))
        build_log(app)
        yield app, url

    def tamper(self, url: str, *statements: str) -> None:
        conn = psycopg2.connect(postgres_admin_url())
        try:
            with conn, conn.cursor() as curs:
                curs.execute("SET LOCAL ledger.maintenance = 'on'")
                for statement in statements:
                    curs.execute(statement)
        finally:
            conn.close()

    def flip_byte_sql(self, position: int) -> str:
        return (
            "UPDATE events SET state = overlay(state placing "
            "set_byte('\\x00'::bytea, 0, get_byte(state, 5) # 1) from 6 for 1) "
            f"WHERE position = {position}"
        )

    def forged_row_sql(self, position: int, source: int) -> str:
        return (
            "INSERT INTO events (position, originator_id, originator_version, topic, state, "
            f"recorded_at) SELECT {position}, gen_random_uuid(), originator_version, "
            f"topic, state, recorded_at FROM events WHERE position = {source}"
        )

    def rewrite_chain(self, url: str) -> None:
        conn = psycopg2.connect(postgres_admin_url())
        with conn, conn.cursor() as curs:
            curs.execute(
                "SELECT position, originator_id, originator_version, topic, state, recorded_at "
                "FROM events ORDER BY position"
            )
            rows = curs.fetchall()
        conn.close()
        statements, link = [], GENESIS_LINK
        for p, o, v, t, s, r in rows:
            link = chain_link(link, p, o, v, t, state_digest(bytes(s)), r)
            statements.append(
                f"UPDATE event_chain SET link = '\\x{link.hex()}'::bytea WHERE position = {p}"
            )
        self.tamper(url, *statements)

    def test_the_append_only_triggers_refuse_even_the_owner(self, setup: Any) -> None:
        conn = psycopg2.connect(postgres_admin_url())
        try:
            for statement in ("UPDATE events SET topic = 'x'", "DELETE FROM event_chain",
                              "TRUNCATE idempotency"):
                with pytest.raises(psycopg2.errors.InsufficientPrivilege), conn, conn.cursor() as c:
                    c.execute(statement)
        finally:
            conn.close()


def test_the_sqlite_triggers_refuse_updates_and_deletes() -> None:
    url = fresh_sqlite_url()
    build_log(LedgerApplication(env=environment_for(url)))
    conn = sqlite3.connect(sqlite_path(url))
    try:
        for statement in ("UPDATE events SET topic = 'x'", "DELETE FROM event_chain"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)
    finally:
        conn.close()
