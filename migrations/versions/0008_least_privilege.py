"""Least privilege: token rows and read models beyond the API role's reach.

- Tokens gain `expires_at` and `last_used_at`. Existing tokens expire a role's default
  lifetime after this migration; live `admin` tokens are revoked (the role is retired:
  docs/roles.md).
- On PostgreSQL the service role may only SELECT `api_tokens`. It issues, revokes and
  stamps the last use of tokens through SECURITY DEFINER functions owned by the schema
  owner, which insert fresh rows and set `revoked_at`/`last_used_at` and nothing else, so
  no token's role, subject or expiry can be changed by it.
- Read models (every `rm_*` table, and `rm_tracking`, the projections' positions, moved
  here from the event store's `tracking`) are written only by the projection writer's role
  (LEDGER_PROJECTION_ROLE, default `ledger_projector`); the service role may read them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import importlib
import os

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Lifetimes given to the tokens that exist when this runs (persistence.tokens has the same).
EXISTING_LIFETIME_DAYS = {"integrator": 90}
OTHER_LIFETIME_DAYS = 30
MAX_LIFETIME_DAYS = 366
MICROS_PER_DAY = 86_400 * 1_000_000
PG_DAY = "interval '1 day'"

TOKEN_FUNCTIONS = [
    """CREATE FUNCTION ledger_issue_token(
        p_hash text, p_role text, p_subject text, p_manager_id text, p_expires_at timestamptz
    ) RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    BEGIN
        IF p_role = 'admin' THEN
            RAISE EXCEPTION 'the admin role is retired' USING ERRCODE = 'check_violation';
        END IF;
        IF p_expires_at <= now() OR p_expires_at > now() + interval '366 days' THEN
            RAISE EXCEPTION 'a token expires within 366 days' USING ERRCODE = 'check_violation';
        END IF;
        INSERT INTO api_tokens (token_hash, role, subject, manager_id, created_at, expires_at)
        VALUES (p_hash, p_role, p_subject, p_manager_id, now(), p_expires_at);
    END $$""",
    """CREATE FUNCTION ledger_revoke_token(p_hash text) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE n integer;
    BEGIN
        UPDATE api_tokens SET revoked_at = now()
        WHERE token_hash = p_hash AND revoked_at IS NULL;
        GET DIAGNOSTICS n = ROW_COUNT;
        RETURN n;
    END $$""",
    """CREATE FUNCTION ledger_revoke_subject_tokens(p_subject text) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE n integer;
    BEGIN
        UPDATE api_tokens SET revoked_at = now()
        WHERE subject = p_subject AND revoked_at IS NULL;
        GET DIAGNOSTICS n = ROW_COUNT;
        RETURN n;
    END $$""",
    # At most one write a minute per token: a busy token must not cost a write per request.
    """CREATE FUNCTION ledger_token_used(p_hash text) RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        UPDATE api_tokens SET last_used_at = now()
        WHERE token_hash = p_hash
          AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
    $$""",
]
FUNCTION_SIGNATURES = [
    "ledger_issue_token(text, text, text, text, timestamptz)",
    "ledger_revoke_token(text)",
    "ledger_revoke_subject_tokens(text)",
    "ledger_token_used(text)",
]

RM_TRACKING = {
    "postgresql": "CREATE TABLE rm_tracking (application_name text PRIMARY KEY, "
                  "notification_id bigint NOT NULL)",
    "sqlite": "CREATE TABLE rm_tracking (application_name TEXT PRIMARY KEY, "
              "notification_id INTEGER NOT NULL) WITHOUT ROWID",
}
# The projections' rows (projection:facts, figures:…, rebuild:…) move with them; the
# library's own tracking recorders keep using `tracking`.
MOVE_TRACKING = [
    "INSERT INTO rm_tracking (application_name, notification_id) "
    "SELECT application_name, notification_id FROM tracking",
    "DELETE FROM tracking",
]


def service_role() -> str:
    # The revision module's name starts with a digit, so it is loaded by name, not imported.
    event_store = importlib.import_module("migrations.versions.0001_event_store")
    return str(event_store.service_role())


def projection_role() -> str:
    role = os.environ.get("LEDGER_PROJECTION_ROLE", "ledger_projector")
    if not role.replace("_", "").isalnum():
        raise ValueError(f"LEDGER_PROJECTION_ROLE must be a plain identifier, not {role!r}")
    return role


def _lifetime_case(unit: str) -> str:
    """`expires_at` for an existing token, by role, as an SQL expression from `now`."""
    cases = " ".join(f"WHEN '{role}' THEN {days}" for role, days in
                     EXISTING_LIFETIME_DAYS.items())
    return f"(CASE role {cases} ELSE {OTHER_LIFETIME_DAYS} END) * {unit}"


def _token_columns(postgres: bool) -> None:
    kind = "timestamptz" if postgres else "INTEGER"
    op.execute(f"ALTER TABLE api_tokens ADD COLUMN expires_at {kind}")
    op.execute(f"ALTER TABLE api_tokens ADD COLUMN last_used_at {kind}")
    if postgres:
        op.execute(f"UPDATE api_tokens SET expires_at = now() + "
                   f"{_lifetime_case(PG_DAY)}")
        op.execute("ALTER TABLE api_tokens ALTER COLUMN expires_at SET NOT NULL")
        op.execute("UPDATE api_tokens SET revoked_at = now() "
                   "WHERE role = 'admin' AND revoked_at IS NULL")
    else:
        now = "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)"
        op.execute(f"UPDATE api_tokens SET expires_at = {now} + "
                   f"{_lifetime_case(str(MICROS_PER_DAY))}")
        op.execute(f"UPDATE api_tokens SET revoked_at = {now} "
                   "WHERE role = 'admin' AND revoked_at IS NULL")
    op.execute("CREATE INDEX api_tokens_expires_at ON api_tokens (expires_at)")


def _create_role(role: str) -> None:
    op.execute(
        "DO $$ BEGIN "
        f"IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') "
        f"THEN CREATE ROLE {role} LOGIN; END IF; END $$"
    )


def _read_model_tables() -> list[str]:
    rows = op.get_bind().exec_driver_sql(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
        "AND left(tablename, 3) = 'rm_' ORDER BY tablename")
    return [str(row[0]) for row in rows]


def _grant_tokens(service: str) -> None:
    op.execute(f"REVOKE ALL ON api_tokens FROM PUBLIC, {service}")
    op.execute(f"GRANT SELECT ON api_tokens TO {service}")
    for statement in TOKEN_FUNCTIONS:
        op.execute(statement)
    for signature in FUNCTION_SIGNATURES:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {service}")


def _grant_read_models(service: str, writer: str) -> None:
    _create_role(writer)
    op.execute(f"GRANT USAGE ON SCHEMA public TO {writer}")
    tables = ", ".join(_read_model_tables())
    op.execute(f"REVOKE ALL ON {tables} FROM PUBLIC, {service}, {writer}")
    op.execute(f"GRANT SELECT ON {tables} TO {service}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO {writer}")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    postgres = dialect == "postgresql"
    _token_columns(postgres)
    op.execute(RM_TRACKING[dialect])
    for statement in MOVE_TRACKING:
        op.execute(statement)
    if postgres:
        service = service_role()
        _grant_tokens(service)
        _grant_read_models(service, projection_role())


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute("INSERT INTO tracking (application_name, notification_id) "
               "SELECT application_name, notification_id FROM rm_tracking")
    op.execute("DROP TABLE rm_tracking")
    op.execute("DROP INDEX api_tokens_expires_at")
    op.execute("ALTER TABLE api_tokens DROP COLUMN last_used_at")
    op.execute("ALTER TABLE api_tokens DROP COLUMN expires_at")
    if postgres:
        service = service_role()
        for signature in FUNCTION_SIGNATURES:
            op.execute(f"DROP FUNCTION {signature}")
        op.execute(f"GRANT SELECT, INSERT, UPDATE ON api_tokens TO {service}")
        tables = ", ".join(_read_model_tables())
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO {service}")
