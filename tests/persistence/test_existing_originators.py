"""`existing_originators` names exactly the ids that have events, on both back ends: the
batch's retry path rests on it to tell stored postings from new ones."""

from __future__ import annotations

from uuid import uuid4

from eventsourcing.persistence import StoredEvent

from ledger.application import LedgerApplication


def test_only_the_ids_with_events_are_named_once_each(app: LedgerApplication) -> None:
    stored = [uuid4() for _ in range(3)]
    app.recorder.insert_events([
        StoredEvent(originator_id=i, originator_version=v, topic="tests:Existing", state=b"{}")
        for i in stored for v in (1, 2)
    ])
    unknown = [uuid4() for _ in range(4)]
    asked = [stored[0], *unknown, stored[2], stored[0]]
    assert app.store.existing_originators(asked) == {stored[0], stored[2]}
    assert app.store.existing_originators(unknown) == set()
    assert app.store.existing_originators([]) == set()
