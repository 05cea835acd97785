"""The eventsourcing library's own recorder test suites, run against our SQLite recorders.

These are a peer's tests: they are kept whole. Our tables come from the migrations, so
each case runs on a freshly migrated database file.
"""

from __future__ import annotations

from dbsupport import fresh_sqlite_url
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    ProcessRecorder,
    TrackingRecorder,
)
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.tests.persistence import (
    AggregateRecorderTestCase,
    ApplicationRecorderTestCase,
    InfrastructureFactoryTestCase,
    NonInterleavingNotificationIDsBaseCase,
    ProcessRecorderTestCase,
    TrackingRecorderTestCase,
)
from eventsourcing.utils import Environment

from persistence.sqlite import (
    Factory,
    SqliteAggregateRecorder,
    SqliteApplicationRecorder,
    SqliteProcessRecorder,
    SqliteTrackingRecorder,
)
from persistence.url import sqlite_path


def fresh_datastore() -> SQLiteDatastore:
    return SQLiteDatastore(db_name=sqlite_path(fresh_sqlite_url()))


class TestAggregateRecorder(AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        return SqliteAggregateRecorder(fresh_datastore())


class TestApplicationRecorder(ApplicationRecorderTestCase[SqliteApplicationRecorder]):
    def create_recorder(self) -> SqliteApplicationRecorder:
        return SqliteApplicationRecorder(fresh_datastore())

    def test_insert_subscribe(self) -> None:
        # The suite offers this case as optional; our recorder supports subscriptions.
        self.optional_test_insert_subscribe()


class TestTrackingRecorder(TrackingRecorderTestCase):
    def create_recorder(self) -> TrackingRecorder:
        return SqliteTrackingRecorder(fresh_datastore())


class TestProcessRecorder(ProcessRecorderTestCase):
    def create_recorder(self) -> ProcessRecorder:
        return SqliteProcessRecorder(fresh_datastore())


class TestNonInterleavingNotificationIDs(NonInterleavingNotificationIDsBaseCase):
    def create_recorder(self) -> ApplicationRecorder:
        return SqliteApplicationRecorder(fresh_datastore())


class MyTrackingRecorder(SqliteTrackingRecorder):
    pass


class TestFactory(InfrastructureFactoryTestCase[Factory]):
    def setUp(self) -> None:
        self.env = Environment("TestCase")
        self.env["PERSISTENCE_MODULE"] = "persistence.sqlite"
        self.env["SQLITE_DBNAME"] = sqlite_path(fresh_sqlite_url())
        super().setUp()

    def expected_factory_class(self) -> type[Factory]:
        return Factory

    def expected_aggregate_recorder_class(self) -> type[AggregateRecorder]:
        return SqliteAggregateRecorder

    def expected_application_recorder_class(self) -> type[ApplicationRecorder]:
        return SqliteApplicationRecorder

    def expected_tracking_recorder_class(self) -> type[TrackingRecorder]:
        return SqliteTrackingRecorder

    def tracking_recorder_subclass(self) -> type[TrackingRecorder]:
        return MyTrackingRecorder

    def expected_process_recorder_class(self) -> type[ProcessRecorder]:
        return SqliteProcessRecorder


del AggregateRecorderTestCase
del ApplicationRecorderTestCase
del TrackingRecorderTestCase
del ProcessRecorderTestCase
del NonInterleavingNotificationIDsBaseCase
del InfrastructureFactoryTestCase
