"""Tamper with the stored log directly, as its owner, and watch verify name the position.

Each case changes the database behind the ledger's back (taking the maintenance path
the append-only triggers demand), then checks what `verify` says and where.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg2
import pytest
from click.testing import CliRunner
from dbsupport import fresh_sqlite_url, postgres_admin_url, postgres_service_url, reset_postgres

from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from ledger_cli.main import main
from ledger_cli.verify import chain_key as chain_key_commands
from persistence.records import (
    GENESIS_LINK,
    chain_link,
    from_micros,
    link_from_parts,
    state_digest,
    to_micros,
)
from persistence.seal import (
    KEY_FILE_ENV,
    ChainKeyUnavailable,
    generate_key_file,
    keyring_from_environment,
    seal_mac,
)
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

    def blob(self, value: bytes) -> str:
        return f"X'{value.hex()}'"

    def instant(self, micros: int) -> str:
        return str(micros)

    def originator(self, hex_id: str) -> str:
        return f"'{hex_id}'"

    def forged_row_sql(self, position: int, source: int) -> str:
        return (
            "INSERT INTO events (position, originator_id, originator_version, topic, state, "
            f"recorded_at) SELECT {position}, originator_id || '', originator_version + 100, "
            f"topic, state, recorded_at FROM events WHERE position = {source}"
        )

    def forge_tail(self, app: LedgerApplication, url: str, source: int, seal: bytes | None) -> int:
        """Append a forged copy of event `source` at the tail, its unkeyed link computed as
        the recorder would, with the head's key id and `seal` (None: no seal)."""
        rows = app.recorder.select_log(0, 10_000)
        head, copied = rows[-1], rows[source - 1]
        position, originator = head.position + 1, uuid4().hex
        micros = to_micros(head.recorded_at) + 1
        link = link_from_parts(head.link or GENESIS_LINK, position, originator,
                               copied.originator_version, copied.topic,
                               state_digest(copied.state), micros)
        key_id = app.recorder.select_chain_inputs(head.position - 1, 1)[0].key_id
        sealed = ("NULL, NULL" if seal is None or key_id is None
                  else f"'{key_id}', {self.blob(seal)}")
        self.tamper(
            url,
            "INSERT INTO events (position, originator_id, originator_version, topic, state, "
            f"recorded_at) VALUES ({position}, {self.originator(originator)}, "
            f"{copied.originator_version}, '{copied.topic}', {self.blob(copied.state)}, "
            f"{self.instant(micros)})",
            "INSERT INTO event_chain (position, link, key_id, seal) VALUES "
            f"({position}, {self.blob(link)}, {sealed})",
        )
        return position

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
        (problem,) = verify(app.recorder).problems  # the shifted rows are not listed apart
        assert problem.through == EVENTS + 1

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

    # --- the keyed layer -----------------------------------------------------------

    def test_a_forged_tail_append_with_a_recomputed_link_is_named_with_the_key(
        self, setup: Any, chain_key: str
    ) -> None:
        app, url = setup
        _introduce(app, chain_key)
        assert verify(app.recorder, keyring=keyring_from_environment()).ok
        forged = self.forge_tail(app, url, 5, seal=bytes(32))
        # Without the key the forgery is plausible: its link and its key id are right...
        assert verify(app.recorder).ok
        # ...with it, the seal gives it away.
        result = verify(app.recorder, keyring=keyring_from_environment())
        assert result.first_bad is not None
        assert (result.first_bad.position, result.first_bad.kind) == (forged, "forged")

    def test_a_forged_tail_append_without_a_seal_is_named_even_without_the_key(
        self, setup: Any, chain_key: str
    ) -> None:
        app, url = setup
        _introduce(app, chain_key)
        forged = self.forge_tail(app, url, 5, seal=None)
        assert _first_bad(app) == (forged, "unsealed")

    def test_the_cli_names_the_forged_append_with_the_chain_key(
        self, setup: Any, chain_key: str, tmp_path: Path
    ) -> None:
        app, url = setup
        _introduce(app, chain_key)
        env = {"LEDGER_DATABASE_URL": url, KEY_FILE_ENV: ""}  # an auditor without the key
        assert "(chain)" in _cli(["verify"], env)
        assert "(chain and seals)" in _cli(["verify"], {**env, KEY_FILE_ENV: chain_key})
        forged = self.forge_tail(app, url, 5, seal=bytes(32))
        assert "ok:" in _cli(["verify"], env)
        failed = _cli(["verify"], {**env, KEY_FILE_ENV: chain_key}, code=1)
        assert f"FAILED at position {forged}: forged" in failed

    def test_a_forged_rotation_to_the_forgers_own_key_is_named_with_the_key(
        self, setup: Any, chain_key: str
    ) -> None:
        app, url = setup
        introduced = EVENTS + 1
        _introduce(app, chain_key)
        # The forger copies the announcement and seals it, and itself, with a key of its own.
        forged = self.forge_tail(app, url, introduced, seal=bytes(32))
        own = bytes(range(32))
        link = app.recorder.select_links(forged - 1, forged, 1)[0][1]
        self.tamper(url, "UPDATE event_chain SET key_id = 'ffffffffffffffff', "
                         f"seal = {self.blob(seal_mac(own, link))} WHERE position = {forged}")
        assert verify(app.recorder).ok  # a rotation, as far as anyone without the key can tell
        result = verify(app.recorder, keyring=keyring_from_environment())
        assert result.first_bad is not None
        assert (result.first_bad.position, result.first_bad.kind) == (forged, "forged")
        assert "not in the auditor's keyring" in result.first_bad.detail

    def test_a_seal_with_another_key_than_the_one_in_force_is_named_without_the_key(
        self, setup: Any, chain_key: str
    ) -> None:
        app, url = setup
        _introduce(app, chain_key)
        with acting_as(SUPERVISOR):
            app.register_manager(business_id="MZ", name="M Z", grade="B", unit="U")
        self.tamper(url, "UPDATE event_chain SET key_id = '0000000000000000' "
                         f"WHERE position = {EVENTS + 2}")
        assert _first_bad(app) == (EVENTS + 2, "forged")

    def test_the_chain_key_commands_generate_and_introduce_a_key(
        self, setup: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        app, url = setup
        path = tmp_path / "chain.key"
        key_id = CliRunner().invoke(chain_key_commands, ["generate", str(path)]).output.strip()
        env = {"LEDGER_DATABASE_URL": url, KEY_FILE_ENV: str(path)}
        rotated = CliRunner().invoke(chain_key_commands, ["rotate", "--reason", "first key"],
                                     env=env, catch_exceptions=False)
        assert f"key {key_id} seals the log from position {EVENTS + 1}" in rotated.output
        monkeypatch.setenv(KEY_FILE_ENV, str(path))
        result = verify(app.recorder, keyring=keyring_from_environment())
        assert result.ok and result.keyed and result.key_in_force == key_id

    def test_appends_after_a_rotation_are_sealed_with_the_new_key(
        self, setup: Any, chain_key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        app, _ = setup
        first = _introduce(app, chain_key)
        second_file = tmp_path / "second.key"
        second = generate_key_file(second_file)
        monkeypatch.setenv(KEY_FILE_ENV, f"{chain_key}:{second_file}")
        with acting_as(SUPERVISOR):
            app.rotate_chain_key(second, reason="yearly rotation")
            app.register_manager(business_id="MX", name="M X", grade="B", unit="U")
        result = verify(app.recorder, keyring=keyring_from_environment())
        assert result.ok and result.key_in_force == second != first

    def test_an_appender_without_the_key_in_force_appends_nothing(
        self, setup: Any, chain_key: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        app, _ = setup
        _introduce(app, chain_key)
        before = app.recorder.max_notification_id()
        monkeypatch.delenv(KEY_FILE_ENV)
        with pytest.raises(ChainKeyUnavailable), acting_as(SUPERVISOR):
            app.register_manager(business_id="MY", name="M Y", grade="B", unit="U")
        assert app.recorder.max_notification_id() == before

    def test_a_history_rewritten_with_recomputed_links_is_named_where_it_starts_with_the_key(
        self, setup: Any, chain_key: str, tmp_path: Path
    ) -> None:
        app, url = setup
        _introduce(app, chain_key)  # at EVENTS + 1: sealed from here on
        with acting_as(SUPERVISOR):
            for n in range(10):
                app.register_manager(business_id=f"S{n}", name=f"S {n}", grade="B", unit="U")
        env = {**_cli_env(url, tmp_path), KEY_FILE_ENV: chain_key}
        _cli(["verify", "--export-head", str(tmp_path / "head.json")], env)
        self.tamper(url, self.flip_byte_sql(EVENTS + 5))
        self.rewrite_chain(url)
        failed = _cli(["verify", "--against", str(tmp_path / "head.json")], env, code=1)
        assert failed.startswith(f"FAILED at position {EVENTS + 5}: forged"), failed
        assert f"position {EVENTS + 11}: altered" in failed  # the head's own check, too

    # --- signed heads: truncation and --against ------------------------------------

    def test_a_tail_truncated_after_the_last_checkpoint_is_named_by_plain_verify(
        self, setup: Any, tmp_path: Path
    ) -> None:
        app, url = setup
        env = _cli_env(url, tmp_path)
        assert "kept in chain_heads" in _cli(["verify", "--checkpoint"], env)
        self.tamper(url, "DELETE FROM events WHERE position > 20",
                    "DELETE FROM event_chain WHERE position > 20")
        assert verify(app.recorder).ok  # a consistent chain, shorter than the checkpoint
        failed = _cli(["verify"], {"LEDGER_DATABASE_URL": url}, code=1)
        assert failed.startswith("FAILED at position 21: missing"), failed

    def test_against_reports_a_failure_after_the_head(self, setup: Any, tmp_path: Path) -> None:
        app, url = setup
        env = _cli_env(url, tmp_path)
        _cli(["verify", "--export-head", str(tmp_path / "head.json")], env)
        with acting_as(SUPERVISOR):
            for n in range(5):
                app.register_manager(business_id=f"N{n}", name=f"N {n}", grade="B", unit="U")
        self.tamper(url, self.flip_byte_sql(EVENTS + 3))
        failed = _cli(["verify", "--against", str(tmp_path / "head.json")], env, code=1)
        assert failed.startswith(f"FAILED at position {EVENTS + 3}: altered"), failed

    def test_against_reports_every_failure_before_and_after_the_head(
        self, setup: Any, tmp_path: Path
    ) -> None:
        app, url = setup
        env = _cli_env(url, tmp_path)
        _cli(["verify", "--export-head", str(tmp_path / "head.json")], env)
        with acting_as(SUPERVISOR):
            for n in range(5):
                app.register_manager(business_id=f"N{n}", name=f"N {n}", grade="B", unit="U")
        self.tamper(url, self.flip_byte_sql(10), self.flip_byte_sql(EVENTS + 3))
        failed = _cli(["verify", "--against", str(tmp_path / "head.json")], env, code=1)
        assert failed.startswith("FAILED at position 10: altered"), failed
        assert f"also at position {EVENTS + 3}: altered" in failed

    def test_a_history_truncated_and_appended_again_is_named_where_the_rewrite_starts(
        self, setup: Any, tmp_path: Path
    ) -> None:
        app, url = setup
        env = _cli_env(url, tmp_path)
        _cli(["verify", "--export-head", str(tmp_path / "head.json")], env)
        self.tamper(url, "DELETE FROM events WHERE position > 20",
                    "DELETE FROM event_chain WHERE position > 20")
        with acting_as(SUPERVISOR):  # the genuine recorder writes the new history
            for n in range(15):
                app.register_manager(business_id=f"R{n}", name=f"R {n}", grade="B", unit="U")
        assert verify(app.recorder).ok
        failed = _cli(["verify", "--against", str(tmp_path / "head.json")], env, code=1)
        assert failed.startswith("FAILED at position 21: altered"), failed


@pytest.fixture
def chain_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A chain key file, held by this process (the appender) from now on."""
    path = tmp_path / "chain.key"
    generate_key_file(path)
    monkeypatch.setenv(KEY_FILE_ENV, str(path))
    return str(path)


def _introduce(app: LedgerApplication, key_file: str) -> str:
    key_id = keyring_from_environment().key_ids()[0]
    assert key_file
    with acting_as(SUPERVISOR):
        app.rotate_chain_key(key_id, reason="first key")
    return key_id


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
        clear_heads()
        url = postgres_service_url()
        app = LedgerApplication(env=environment_for(url))
        build_log(app)
        yield app, url
        clear_heads()  # the signed heads of this log mean nothing to the next test's

    def blob(self, value: bytes) -> str:
        return f"'\\x{value.hex()}'::bytea"

    def instant(self, micros: int) -> str:
        return f"timestamptz 'epoch' + interval '{micros} microseconds'"

    def originator(self, hex_id: str) -> str:
        return f"'{hex_id}'::uuid"

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


def clear_heads() -> None:
    """Empty chain_heads as the owner (tests/dbsupport.reset_postgres does not know it)."""
    conn = psycopg2.connect(postgres_admin_url())
    try:
        with conn, conn.cursor() as curs:
            curs.execute("SET LOCAL ledger.maintenance = 'on'")
            curs.execute("TRUNCATE chain_heads")
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
