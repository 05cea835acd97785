"""Event-store persistence for the ledger: our recorders on SQLite and PostgreSQL."""
