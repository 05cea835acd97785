"""A looked-up token is kept for KEPT_TOKEN_SECONDS (persistence/tokens.py): no statement
for the requests within that time, a revocation in this process refused at the next
request, one by another process (or behind the store's back) within that time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from dbsupport import fresh_sqlite_url, postgres_admin_url, postgres_service_url, reset_postgres
from sqlalchemy import event, update

from persistence import tokens
from persistence.engines import engine_for_url, writing
from persistence.tokens import TokenStore, api_tokens, digest


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def urls(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(the service's URL, a URL that may change the table behind the service's back)."""
    if request.param == "sqlite":
        url = fresh_sqlite_url()
        return url, url
    reset_postgres()
    return postgres_service_url(), postgres_admin_url()


@pytest.fixture
def store(urls: tuple[str, str]) -> Iterator[TokenStore]:
    found = TokenStore.of_url(urls[0])
    yield found
    found.engine.dispose()


def statements(store: TokenStore) -> list[str]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    return seen


def test_a_token_is_looked_up_once_within_the_kept_time(store: TokenStore) -> None:
    secret = store.create(role="auditor", subject="aud-1")
    assert store.principal(secret) is not None
    seen = statements(store)
    for _ in range(20):
        found = store.principal(secret)
        assert found is not None and found.role == "auditor" and found.subject == "aud-1"
    assert seen == []


def test_a_revocation_in_this_process_is_refused_at_the_next_request(
    store: TokenStore, urls: tuple[str, str]
) -> None:
    secret = store.create(role="auditor", subject="aud-1")
    assert store.principal(secret) is not None
    # Another store of the same process (the CLI's, a test's) revokes it.
    assert TokenStore.of_url(urls[0]).revoke(secret)
    assert store.principal(secret) is None
    other = store.create(role="auditor", subject="aud-2")
    assert store.principal(other) is not None
    assert TokenStore.of_url(urls[0]).revoke_subject("aud-2") == 1
    assert store.principal(other) is None


def test_a_revocation_by_another_process_is_refused_within_the_kept_time(
    store: TokenStore, urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens, "KEPT_TOKEN_SECONDS", 0.3)
    secret = store.create(role="auditor", subject="aud-1")
    assert store.principal(secret) is not None
    # Behind every store of this process: as another worker's revocation looks from here.
    behind = engine_for_url(urls[1])
    try:
        with writing(behind) as conn:
            conn.execute(update(api_tokens).where(api_tokens.c.token_hash == digest(secret))
                         .values(revoked_at=api_tokens.c.created_at))
    finally:
        behind.dispose()
    time.sleep(0.35)
    assert store.principal(secret) is None


def test_a_kept_token_is_never_trusted_past_its_expiry(store: TokenStore) -> None:
    secret = store.create(role="auditor", subject="aud-1")
    hashed = digest(secret)
    assert store.principal(secret) is not None
    kept = store._kept[hashed]
    store._kept[hashed] = tokens._Kept(kept.principal, kept.until, kept.expires_at.replace(
        year=2000), kept.revocations)
    # Past its (kept) expiry the token is looked up again; the table still says live.
    seen = statements(store)
    assert store.principal(secret) is not None
    assert len(seen) >= 1
