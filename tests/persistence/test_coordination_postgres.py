"""Projection workers' coordination on PostgreSQL (persistence/coordination.py): one owner
per view at a time, the lock free as soon as its session ends, and a wake-up on append."""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest
from pgcluster import own_database

from bench.live import prepare
from ledger.application import LedgerApplication
from ledger.audit import AuditContext, acting_as
from persistence.coordination import Listening, owners
from persistence.url import environment_for
from projections.database import engine_for_url, reading

pytestmark = pytest.mark.postgres

VIEW = "projection:facts"
ACTOR = AuditContext(actor="coordination-test", role="supervisor", request_id="coordination")


def test_a_view_has_one_owner_and_passes_to_another_when_its_session_ends() -> None:
    with own_database() as (_, owner_url, _service):
        first, second = Listening(owner_url, "a"), Listening(owner_url, "b")
        try:
            assert first.owns(VIEW) and not second.owns(VIEW)
            assert first.owns(VIEW), "an owner keeps its view"
            assert second.owns("figures:live"), "another view is another lock"
            with reading(engine_for_url(owner_url)) as conn:
                held = owners(conn, [VIEW, "figures:live"])
            assert set(held) == {VIEW, "figures:live"} and held[VIEW] != held["figures:live"]
            first.close()
            deadline = time.monotonic() + 5
            while not second.owns(VIEW):
                assert time.monotonic() < deadline, "the lock outlived its session"
                time.sleep(0.01)
        finally:
            first.close()
            second.close()


def test_a_waiting_worker_wakes_on_an_append_not_at_its_poll() -> None:
    with own_database() as (_, owner_url, service_url):
        prepare(owner_url)
        listening = Listening(owner_url, "waker")
        app = LedgerApplication(env=environment_for(service_url))
        try:
            listening.wait(0.01)  # connects and LISTENs

            def append() -> None:
                time.sleep(0.3)
                with acting_as(ACTOR):
                    app.record_deduction(manager_id="M1", rule_code="B1", occurrences=1,
                                         aggravated=False, effective_on=date(2026, 2, 1),
                                         description="wake up", idempotency=None)
            writer = threading.Thread(target=append)
            started = time.monotonic()
            writer.start()
            listening.wait(10.0)
            woke = time.monotonic() - started
            writer.join()
            assert 0.25 < woke < 3.0, f"woke after {woke:.2f} s, not on the NOTIFY"
        finally:
            listening.close()
            app.close()

