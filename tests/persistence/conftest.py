"""A ledger on each back end, for the persistence tests that drive the recorder through
the application (a module's own `app` fixture overrides this one)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dbsupport import fresh_sqlite_url, postgres_service_url, reset_postgres

from ledger.application import LedgerApplication
from persistence.url import environment_for


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def app(request: pytest.FixtureRequest) -> Iterator[LedgerApplication]:
    if request.param == "sqlite":
        url = fresh_sqlite_url()
    else:
        reset_postgres()
        url = postgres_service_url()
    ledger = LedgerApplication(env=environment_for(url))
    ledger.ensure_rulebook()
    yield ledger
    ledger.close()
