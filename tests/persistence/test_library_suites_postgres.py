"""The eventsourcing library's own recorder test suites, run against our PostgreSQL module.

These are a peer's tests: they are kept whole. They run as the service role (SELECT and
INSERT only on the log) on a database migrated by `migrations/`, emptied before each case.
"""

from __future__ import annotations

from dbsupport import postgres_service_url, require_postgres, reset_postgres
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    ProcessRecorder,
    TrackingRecorder,
)
from eventsourcing.tests.persistence import (
    AggregateRecorderTestCase,
    ApplicationRecorderTestCase,
    InfrastructureFactoryTestCase,
    NonInterleavingNotificationIDsBaseCase,
    ProcessRecorderTestCase,
    TrackingRecorderTestCase,
)
from eventsourcing.utils import Environment

from persistence.postgres import (
    Factory,
    PgAggregateRecorder,
    PgApplicationRecorder,
    PgDatastore,
    PgProcessRecorder,
    PgTrackingRecorder,
)
from persistence.url import libpq_dsn


class PostgresCase:
    """Mixin: a clean, migrated database and a datastore connected as the service role."""

    datastores: list[PgDatastore]

    def setUp(self) -> None:
        require_postgres()
        reset_postgres()
        self.datastores = []
        super().setUp()  # type: ignore[misc]

    def tearDown(self) -> None:
        for datastore in self.datastores:
            datastore.close()
        super().tearDown()  # type: ignore[misc]

    def datastore(self) -> PgDatastore:
        # Pool sized for the suite's concurrency cases (10 writer threads + 2 readers).
        datastore = PgDatastore(libpq_dsn(postgres_service_url()), pool_size=12, max_overflow=4)
        self.datastores.append(datastore)
        return datastore


class TestAggregateRecorder(PostgresCase, AggregateRecorderTestCase):
    def create_recorder(self) -> AggregateRecorder:
        return PgAggregateRecorder(self.datastore())


class TestApplicationRecorder(PostgresCase, ApplicationRecorderTestCase[PgApplicationRecorder]):
    def create_recorder(self) -> PgApplicationRecorder:
        return PgApplicationRecorder(self.datastore())

    def test_insert_subscribe(self) -> None:
        # The suite offers this case as optional; our recorder supports subscriptions.
        self.optional_test_insert_subscribe()


class TestTrackingRecorder(PostgresCase, TrackingRecorderTestCase):
    def create_recorder(self) -> TrackingRecorder:
        return PgTrackingRecorder(self.datastore())


class TestProcessRecorder(PostgresCase, ProcessRecorderTestCase):
    def create_recorder(self) -> ProcessRecorder:
        return PgProcessRecorder(self.datastore())


class TestNonInterleavingNotificationIDs(PostgresCase, NonInterleavingNotificationIDsBaseCase):
    def create_recorder(self) -> ApplicationRecorder:
        return PgApplicationRecorder(self.datastore())


class MyTrackingRecorder(PgTrackingRecorder):
    pass


class TestFactory(PostgresCase, InfrastructureFactoryTestCase[Factory]):
    def setUp(self) -> None:
        require_postgres()
        self.env = Environment("TestCase")
        self.env["PERSISTENCE_MODULE"] = "persistence.postgres"
        self.env["POSTGRES_DSN"] = libpq_dsn(postgres_service_url())
        super().setUp()

    def expected_factory_class(self) -> type[Factory]:
        return Factory

    def expected_aggregate_recorder_class(self) -> type[AggregateRecorder]:
        return PgAggregateRecorder

    def expected_application_recorder_class(self) -> type[ApplicationRecorder]:
        return PgApplicationRecorder

    def expected_tracking_recorder_class(self) -> type[TrackingRecorder]:
        return PgTrackingRecorder

    def tracking_recorder_subclass(self) -> type[TrackingRecorder]:
        return MyTrackingRecorder

    def expected_process_recorder_class(self) -> type[ProcessRecorder]:
        return PgProcessRecorder


del AggregateRecorderTestCase
del ApplicationRecorderTestCase
del TrackingRecorderTestCase
del ProcessRecorderTestCase
del NonInterleavingNotificationIDsBaseCase
del InfrastructureFactoryTestCase
