"""Tokens end: expiry (a default per role, `--expires-in`), last use, `ledger token list`
without secrets, and `ledger demo`'s short-lived tokens on a fresh database only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from dbsupport import fresh_sqlite_url
from sqlalchemy import select, update

from ledger.application import LedgerApplication
from ledger_cli.main import main
from ledger_cli.tokens import token
from persistence import tokens
from persistence.engines import reading, writing
from persistence.tokens import (
    DEFAULT_LIFETIME,
    DEMO_LIFETIME,
    MAX_LIFETIME,
    USE_STAMP_INTERVAL,
    TokenStore,
    api_tokens,
    digest,
)
from persistence.url import environment_for


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> TokenStore:
    url = fresh_sqlite_url()
    monkeypatch.setenv("LEDGER_DATABASE_URL", url)
    # These tests change the table behind the store's back: nothing kept, every lookup
    # reads it (keeping is tested in test_kept_tokens.py).
    monkeypatch.setattr(tokens, "KEPT_TOKEN_SECONDS", 0.0)
    return TokenStore.of(LedgerApplication(env=environment_for(url)))


def row(store: TokenStore, secret: str) -> dict[str, object]:
    with reading(store.engine) as conn:
        found = conn.execute(select(api_tokens).where(
            api_tokens.c.token_hash == digest(secret))).mappings().one()
    return dict(found)


def lifetime(store: TokenStore, secret: str) -> timedelta:
    stored = row(store, secret)
    expires_at, created_at = stored["expires_at"], stored["created_at"]
    assert isinstance(expires_at, datetime) and isinstance(created_at, datetime)
    return expires_at - created_at


def test_every_role_has_a_default_lifetime_and_none_lasts_longer_than_the_maximum(
    store: TokenStore
) -> None:
    assert DEFAULT_LIFETIME["integrator"] == timedelta(days=90)
    for role, default in DEFAULT_LIFETIME.items():
        assert timedelta(0) < default <= MAX_LIFETIME
        manager_id = "M1" if role == "manager" else None
        secret = store.create(role=role, subject=f"{role}-1", manager_id=manager_id)
        assert abs(lifetime(store, secret) - default) < timedelta(seconds=5), role


def test_token_create_takes_expires_in_and_refuses_a_bad_or_too_long_one(
    store: TokenStore
) -> None:
    runner = CliRunner()
    made = runner.invoke(token, ["create", "--role", "auditor", "--subject", "aud",
                                 "--expires-in", "12h"])
    assert made.exit_code == 0, made.output
    assert abs(lifetime(store, made.output.strip()) - timedelta(hours=12)) < timedelta(seconds=5)
    for bad in ("367d", "0d", "12", "1w", "-3h"):
        refused = runner.invoke(token, ["create", "--role", "auditor", "--subject", "aud",
                                        "--expires-in", bad])
        assert refused.exit_code == 2, (bad, refused.output)


def test_an_expired_token_speaks_for_nobody(store: TokenStore) -> None:
    secret = store.create(role="auditor", subject="aud", expires_in=timedelta(minutes=5))
    assert store.principal(secret) is not None
    with writing(store.engine) as conn:
        conn.execute(update(api_tokens).values(expires_at=datetime.now(UTC)))
    assert store.principal(secret) is None


def test_a_use_is_stamped_at_most_once_a_minute(store: TokenStore) -> None:
    secret = store.create(role="auditor", subject="aud")
    assert row(store, secret)["last_used_at"] is None
    store.principal(secret)
    first = row(store, secret)["last_used_at"]
    assert isinstance(first, datetime)
    assert datetime.now(UTC) - first < timedelta(seconds=5)
    store.principal(secret)
    assert row(store, secret)["last_used_at"] == first  # within the interval: no write
    earlier = first - USE_STAMP_INTERVAL - timedelta(seconds=1)
    with writing(store.engine) as conn:
        conn.execute(update(api_tokens).values(last_used_at=earlier))
    store.principal(secret)
    later = row(store, secret)["last_used_at"]
    assert isinstance(later, datetime) and later > earlier + USE_STAMP_INTERVAL


def test_token_list_shows_who_and_when_but_never_a_secret_or_a_whole_hash(
    store: TokenStore
) -> None:
    live = store.create(role="supervisor", subject="sup-1")
    gone = store.create(role="auditor", subject="aud-1")
    store.revoke(gone)
    store.principal(live)
    listed = CliRunner().invoke(token, ["list"])
    assert listed.exit_code == 0, listed.output
    assert "sup-1" in listed.output and "aud-1" not in listed.output
    everything = CliRunner().invoke(token, ["list", "--all"]).output
    assert "aud-1" in everything and "revoked" in everything and "live" in everything
    for secret in (live, gone):
        assert secret not in everything and digest(secret) not in everything
        assert digest(secret)[:12] in everything


def _run(args: list[str], url: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, args, env={"LEDGER_DATABASE_URL": url},
                                catch_exceptions=False)
    return result.exit_code, result.output


def test_demo_refuses_a_database_with_data_and_its_tokens_expire_within_a_day(
    tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    assert _run(["db", "upgrade"], url)[0] == 0
    code, output = _run(["demo"], url)
    assert code == 0, output
    secrets_printed = [line.split()[-1] for line in output.splitlines()
                       if line.split()[-1:] and line.split()[-1].startswith("lt_")]
    assert len(secrets_printed) == 6
    store = TokenStore.of(LedgerApplication(env=environment_for(url)))
    for secret in secrets_printed:
        assert timedelta(0) < lifetime(store, secret) <= min(DEMO_LIFETIME, timedelta(days=1))
    code, output = _run(["demo"], url)
    assert code == 2 and "already holds data" in output
    code, output = _run(["demo", "--force"], url)
    assert code == 0 and "already loaded" in output


def test_demo_refuses_a_ledger_that_only_holds_tokens(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    assert _run(["db", "upgrade"], url)[0] == 0
    TokenStore.of(LedgerApplication(env=environment_for(url))).create(
        role="operator", subject="ops")
    code, output = _run(["demo"], url)
    assert code == 2 and "already holds data" in output
