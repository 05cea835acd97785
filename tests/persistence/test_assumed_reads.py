"""An append that carries an assumed read (ledger.store.Assumed: the kept rule book a
command was judged by) extends the log only if that aggregate is still at the assumed
version under the append lock; otherwise it writes nothing, on both back ends."""

from __future__ import annotations

from uuid import uuid4

import pytest
from dbsupport import postgres_service_url, reset_postgres
from eventsourcing.persistence import StoredEvent

from ledger import ids
from ledger.application import LedgerApplication
from ledger.store import Append, Assumed, IdempotencyRecord, OutdatedRead
from persistence.url import environment_for


def one_event() -> list[StoredEvent]:
    return [StoredEvent(originator_id=uuid4(), originator_version=1,
                        topic="tests:Assumed", state=b"{}")]


def append_assuming(app: LedgerApplication, version: int, key: str) -> Append:
    append = Append(IdempotencyRecord(scope="test", key=key, request_hash="h", status_code=201),
                    assumed=Assumed(ids.rulebook_id(), version))
    app.recorder.insert_events(one_event(), append=append)
    return append


def test_an_append_assuming_the_current_version_extends_the_log(
    app: LedgerApplication,
) -> None:
    version = app.rulebook().version
    head = app.recorder.max_notification_id() or 0
    append = append_assuming(app, version, "current")
    assert [a.position for a in append.assigned] == [head + 1]
    assert app.store.find_request("test", "current") is not None


def test_an_append_assuming_an_outdated_version_writes_nothing(
    app: LedgerApplication,
) -> None:
    version = app.rulebook().version
    head = app.recorder.max_notification_id()
    for assumed in (version - 1, version + 1):
        with pytest.raises(OutdatedRead):
            append_assuming(app, assumed, f"outdated-{assumed}")
        assert app.store.find_request("test", f"outdated-{assumed}") is None
    assert app.recorder.max_notification_id() == head
    # The recorder is usable afterwards: the failed append left no transaction open.
    assert append_assuming(app, version, "after").assigned


@pytest.mark.postgres
def test_an_append_in_a_transaction_already_begun_checks_the_assumed_version_too() -> None:
    # A process recorder's transaction begins with its tracking row, so its append reads
    # the head through the unprepared statement: the same check must hold there.
    reset_postgres()
    app = LedgerApplication(env=environment_for(postgres_service_url()))
    try:
        app.ensure_rulebook()
        recorder = app.recorder
        version = app.rulebook().version
        head = recorder.max_notification_id()
        with pytest.raises(OutdatedRead):
            with recorder.datastore.transaction(commit=True) as curs:  # type: ignore[attr-defined]
                curs.execute("SELECT 1")
                recorder._insert_events(  # type: ignore[attr-defined]
                    curs, one_event(), append=Append(assumed=Assumed(ids.rulebook_id(),
                                                                     version - 1)))
        assert recorder.max_notification_id() == head
        with recorder.datastore.transaction(commit=True) as curs:  # type: ignore[attr-defined]
            curs.execute("SELECT 1")
            recorder._insert_events(  # type: ignore[attr-defined]
                curs, one_event(), append=Append(assumed=Assumed(ids.rulebook_id(), version)))
        assert recorder.max_notification_id() == (head or 0) + 1
    finally:
        app.close()
