"""An Idempotency-Key's row and the command's events commit together, or neither does
(DESIGN §9; api/idempotency.py).

The failure is injected inside the database, as the schema owner: a trigger refuses the
INSERT into `idempotency`, but only once the command's events are already in the same
transaction (it raises when `events` holds more rows than it did before the request). So
the request fails after its events were written, and the test asserts that neither they
nor the key were committed; then, with the trigger gone, the same request appends exactly
once and a repeat replays it.

Were the key stored in a transaction of its own, after the events' commit, the failed
request would leave its events behind (and the retry would be refused as a duplicate or
append a second time); were it stored before the events, the trigger would not fire and
the first assertion says so.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

import psycopg2
import pytest
from dbsupport import postgres_admin_url

if TYPE_CHECKING:
    from conftest import Harness

PROBLEM_JSON = "application/problem+json"
TRIGGER = "injected_idempotency_failure"
MESSAGE = "injected failure after the events insert"
MANAGER = {"id": "M5", "name": "Five", "grade": "C", "unit": "Branch 2"}
CONTROL_MANAGER = {"id": "M6", "name": "Six", "grade": "C", "unit": "Branch 2"}


class Owner(Protocol):
    """The schema owner's own connection to the service's database."""

    def count(self, table: str) -> int: ...

    def fail_key_inserts_once_events_exceed(self, events: int) -> None: ...

    def stop_failing(self) -> None: ...

    def close(self) -> None: ...


class SQLiteOwner:
    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)

    def count(self, table: str) -> int:
        return int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def fail_key_inserts_once_events_exceed(self, events: int) -> None:
        self.conn.execute(
            f"CREATE TRIGGER {TRIGGER} BEFORE INSERT ON idempotency "
            f"WHEN (SELECT count(*) FROM events) > {int(events)} "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")

    def stop_failing(self) -> None:
        self.conn.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}")

    def close(self) -> None:
        self.conn.close()


class PostgresOwner:
    def __init__(self, url: str) -> None:
        self.conn = psycopg2.connect(url)
        self.conn.autocommit = True

    def count(self, table: str) -> int:
        with self.conn.cursor() as curs:
            curs.execute(f"SELECT count(*) FROM {table}")
            return int(curs.fetchone()[0])

    def fail_key_inserts_once_events_exceed(self, events: int) -> None:
        with self.conn.cursor() as curs:
            curs.execute(
                f"CREATE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF (SELECT count(*) FROM events) > {int(events)} THEN "
                f"RAISE EXCEPTION '{MESSAGE}'; END IF; RETURN NEW; END $$")
            # AFTER: the one-trip append inserts the key in the events' own statement,
            # whose other inserts only an AFTER trigger sees.
            curs.execute(f"CREATE TRIGGER {TRIGGER} AFTER INSERT ON idempotency "
                         f"FOR EACH ROW EXECUTE FUNCTION {TRIGGER}()")

    def stop_failing(self) -> None:
        # The scratch database is shared by the whole run: never leave the trigger behind.
        with self.conn.cursor() as curs:
            curs.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON idempotency")
            curs.execute(f"DROP FUNCTION IF EXISTS {TRIGGER}()")

    def close(self) -> None:
        self.conn.close()


def with_key(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


class KeysCommitWithTheirEvents:
    """What a failure between the events insert and the commit leaves behind: nothing."""

    # What the request that meets the injected failure answers (see the subclasses).
    INJECTED_FAILURE_STATUS = 0

    def fails_without_committing(self, harness: Harness, owner: Owner, path: str, body: Any,
                                 key: str) -> None:
        """Sends `body` with `key` while the key's INSERT fails once the events are in,
        and asserts that neither the events nor the key were committed."""
        events, keys, head = owner.count("events"), owner.count("idempotency"), harness.events()
        owner.fail_key_inserts_once_events_exceed(events)
        try:
            failed = harness.post(path, body, "supervisor" if "batch" not in path
                                  else "integrator", **with_key(key))
        finally:
            owner.stop_failing()
        answer = f"it answered {failed.status_code} {failed.get_data(as_text=True)}"
        # Nothing of the failed request was committed: not its events, not its key.
        assert owner.count("events") == events, f"the events committed without their key; {answer}"
        assert owner.count("idempotency") == keys, f"the key committed without its events; {answer}"
        assert harness.events() == head
        assert failed.status_code >= 400, (
            "the injected failure did not fire: is the key still stored after the events, "
            f"in their transaction? {answer}")
        assert failed.status_code == self.INJECTED_FAILURE_STATUS, answer
        assert failed.mimetype == PROBLEM_JSON
        assert "Idempotent-Replayed" not in failed.headers

    def test_a_command_whose_key_cannot_be_stored_commits_no_event_and_a_retry_appends_once(
        self, harness: Harness, owner: Owner
    ) -> None:
        # Without a key, registering a manager shows how many events one registration is.
        before = owner.count("events")
        harness.ok(harness.post("/managers", CONTROL_MANAGER, "supervisor"), 201)
        per_registration = owner.count("events") - before
        assert per_registration > 0
        # The key's INSERT fails after the events' INSERT: the whole append is undone.
        events, keys = owner.count("events"), owner.count("idempotency")
        self.fails_without_committing(harness, owner, "/managers", MANAGER, "atomic-1")
        # The client retries with the same key and body: it runs, once, and stores its key.
        retried = harness.post("/managers", MANAGER, "supervisor", **with_key("atomic-1"))
        assert retried.status_code == 201, retried.get_data(as_text=True)
        assert "Idempotent-Replayed" not in retried.headers
        assert retried.get_json()["id"] == "M5"
        assert owner.count("events") == events + per_registration
        assert owner.count("idempotency") == keys + 1
        # A further repeat replays the stored reply and appends nothing.
        again = harness.post("/managers", MANAGER, "supervisor", **with_key("atomic-1"))
        assert (again.status_code, again.headers.get("Idempotent-Replayed")) == (201, "true")
        assert again.get_data() == retried.get_data()
        assert owner.count("events") == events + per_registration
        assert owner.count("idempotency") == keys + 1

    def test_a_batch_whose_key_cannot_be_stored_commits_no_posting_and_a_retry_posts_once(
        self, harness: Harness, owner: Owner
    ) -> None:
        harness.register_worked_example()
        # Without a key, a batch of two new postings shows how many events it appends.
        before = owner.count("events")
        control = {"items": [harness.posting("C1", "1", "A-1"), harness.posting("C2", "2", "A-2")]}
        harness.ok(harness.post("/contributions/batch", control, "integrator"))
        per_batch = owner.count("events") - before
        assert per_batch > 0
        batch = {"items": [harness.posting("C1", "5", "K-1"), harness.posting("C3", "6", "K-2")]}
        events, keys = owner.count("events"), owner.count("idempotency")
        self.fails_without_committing(harness, owner, "/contributions/batch", batch, "atomic-b")
        # The retry posts both (neither was committed by the failed attempt), once.
        retried = harness.post("/contributions/batch", batch, "integrator",
                               **with_key("atomic-b"))
        assert retried.status_code == 200, retried.get_data(as_text=True)
        assert [i["status"] for i in retried.get_json()["items"]] == ["created", "created"]
        assert owner.count("events") == events + per_batch
        assert owner.count("idempotency") == keys + 1
        again = harness.post("/contributions/batch", batch, "integrator", **with_key("atomic-b"))
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.get_data() == retried.get_data()
        assert owner.count("events") == events + per_batch


class TestKeysCommitWithTheirEventsOnSQLite(KeysCommitWithTheirEvents):
    # SQLite reports a trigger's RAISE as a constraint failure, which the driver raises as
    # an IntegrityError: the API's table answers that as a refused concurrent change.
    INJECTED_FAILURE_STATUS = 409

    @pytest.fixture
    def owner(self, harness: Harness) -> Iterator[Owner]:
        owner = SQLiteOwner(harness.app.config["LEDGER_ENV"]["SQLITE_DBNAME"])
        yield owner
        owner.stop_failing()
        owner.close()


@pytest.mark.postgres
class TestKeysCommitWithTheirEventsOnPostgreSQL(KeysCommitWithTheirEvents):
    # psycopg2 reports RAISE EXCEPTION (SQLSTATE P0001) as an InternalError, which the
    # API's table does not map: a 500 problem report.
    INJECTED_FAILURE_STATUS = 500

    @pytest.fixture
    def harness(self, postgres_harness: Harness) -> Harness:
        return postgres_harness

    @pytest.fixture
    def owner(self, harness: Harness) -> Iterator[Owner]:
        owner = PostgresOwner(postgres_admin_url())
        yield owner
        owner.stop_failing()
        owner.close()
