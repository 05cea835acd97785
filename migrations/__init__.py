"""Alembic migrations for the event store, support tables and read models."""
