"""Read models (projections): fact tables and figure views.

Fact tables are insert-only; each row carries the log position of the event behind it, so
queries cut them "as known at" any instant. `rm_figures` holds materialised figures per
view (`live`, or a shadow built under one rule-set version) and `rm_views` names them.
Money is NUMERIC on PostgreSQL and exact decimal text on SQLite (never a float).

On PostgreSQL the service role may SELECT, INSERT, UPDATE and DELETE these tables: the
projection workers it runs empty and refill them on a rebuild.

The table definitions are written out here, not imported from `projections.tables`, so
that this revision keeps creating the same schema however the code evolves.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import importlib
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MONEY = sa.Numeric().with_variant(sa.Text(), "sqlite")


Column = sa.Column[Any]


def _position(primary_key: bool = False) -> Column:
    return sa.Column("position", sa.BigInteger, nullable=False, primary_key=primary_key)


def _text(name: str, nullable: bool = False, primary_key: bool = False) -> Column:
    return sa.Column(name, sa.Text, nullable=nullable, primary_key=primary_key)


def _key(name: str) -> Column:
    return _text(name, primary_key=True)


def _portfolio_tables() -> list[tuple[str, list[Column]]]:
    """Managers, grades, targets, customers, holdings and postings."""
    return [
        ("rm_managers", [
            _key("manager_id"), sa.Column("aggregate_id", sa.Text, nullable=False, unique=True),
            _text("name"), _text("unit"), _position(),
        ]),
        ("rm_grades", [
            _key("manager_id"), _position(primary_key=True),
            sa.Column("effective_on", sa.Date, nullable=False), _text("grade"),
        ]),
        ("rm_targets", [
            _key("manager_id"), _key("period"), _position(primary_key=True),
            sa.Column("incremental", MONEY, nullable=False),
        ]),
        ("rm_customers", [
            _key("customer_id"), sa.Column("aggregate_id", sa.Text, nullable=False, unique=True),
            _text("name"), _text("customer_class"), _text("industry"),
            _text("chain", nullable=True), _text("group_name", nullable=True),
            sa.Column("last_year_contribution", MONEY, nullable=False), _position(),
        ]),
        ("rm_holdings", [
            _key("customer_id"), _position(primary_key=True), _text("manager_id"),
            sa.Column("effective_on", sa.Date, nullable=False),
        ]),
        ("rm_contributions", [
            _position(primary_key=True), _text("contribution_id"), _text("customer_id"),
            sa.Column("booked_on", sa.Date, nullable=False),
            sa.Column("interest_income", MONEY, nullable=False),
            sa.Column("deposit_earnings", MONEY, nullable=False),
            sa.Column("fee_income", MONEY, nullable=False),
            sa.Column("risk_cost", MONEY, nullable=False),
            _text("source_system"), _text("external_id"),
        ]),
    ]


def _deduction_tables() -> list[tuple[str, list[Column]]]:
    """Deductions and their fate: disputes, steps, adjustments."""
    return [
        ("rm_deductions", [
            _key("deduction_id"), _text("manager_id"), _text("rule_code"),
            sa.Column("occurrences", sa.Integer, nullable=False),
            sa.Column("aggravated", sa.Boolean, nullable=False),
            sa.Column("disqualify", sa.Boolean, nullable=False),
            sa.Column("effective_on", sa.Date, nullable=False),
            sa.Column("points_per_occurrence", sa.Integer, nullable=False),
            _text("ruleset_version"), _text("customer_id", nullable=True), _text("description"),
            _position(),
        ]),
        ("rm_deduction_changes", [
            _key("deduction_id"), _position(primary_key=True), _text("status"),
            sa.Column("points_total", sa.Integer), _text("dispute_id"),
        ]),
        ("rm_disputes", [
            _key("dispute_id"), _text("deduction_id"), _text("manager_id"), _position(),
        ]),
        ("rm_dispute_steps", [
            _key("dispute_id"), _position(primary_key=True), _text("step"), _text("status"),
            sa.Column("due_on", sa.Date), _text("outcome", nullable=True),
        ]),
        ("rm_adjustments", [
            _key("adjustment_id"), _text("manager_id"), _text("period"),
            sa.Column("points", sa.Integer, nullable=False), _position(),
        ]),
        ("rm_adjustment_changes", [
            _key("adjustment_id"), _position(primary_key=True), _text("status"),
        ]),
    ]


def _ruleset_and_view_tables() -> list[tuple[str, list[Column]]]:
    """Rule-set versions, their publications, and the figure views."""
    return [
        ("rm_rulesets", [
            _key("version"), sa.Column("effective_from", sa.Date, nullable=False),
            _text("content"), _position(),
        ]),
        ("rm_ruleset_publications", [_key("version"), _position()]),
        ("rm_views", [_key("view_name"), _text("ruleset_version", nullable=True)]),
        ("rm_figures", [
            _key("view_name"), _key("manager_id"), _key("period"), _text("ruleset_version"),
            _position(),
            sa.Column("score", sa.Integer, nullable=False), _text("rating"),
            sa.Column("error_points", sa.Integer, nullable=False),
            sa.Column("adjustment_points", sa.Integer, nullable=False),
            sa.Column("disqualified", sa.Boolean, nullable=False),
            *[
                sa.Column(name, MONEY, nullable=False)
                for name in ("base_salary", "stock_task", "incremental_task", "target", "actual",
                             "performance_pay", "actual_pay")
            ],
        ]),
    ]


def _tables() -> list[tuple[str, list[Column]]]:
    # Fresh Column objects on every call: a Column belongs to the one table it creates.
    return _portfolio_tables() + _deduction_tables() + _ruleset_and_view_tables()


# (index name, table, columns). The position indexes let the figures stage find the facts
# that arrived after its tracking position; the others serve per-manager queries.
INDEXES: list[tuple[str, str, list[str]]] = [
    ("rm_grades_position", "rm_grades", ["position"]),
    ("rm_targets_position", "rm_targets", ["position"]),
    ("rm_holdings_manager", "rm_holdings", ["manager_id"]),
    ("rm_holdings_position", "rm_holdings", ["position"]),
    ("rm_contributions_customer", "rm_contributions", ["customer_id", "booked_on"]),
    ("rm_deductions_manager", "rm_deductions", ["manager_id", "effective_on"]),
    ("rm_deductions_position", "rm_deductions", ["position"]),
    ("rm_deduction_changes_position", "rm_deduction_changes", ["position"]),
    ("rm_disputes_manager", "rm_disputes", ["manager_id"]),
    ("rm_disputes_deduction", "rm_disputes", ["deduction_id"]),
    ("rm_dispute_steps_position", "rm_dispute_steps", ["position"]),
    ("rm_adjustments_manager", "rm_adjustments", ["manager_id", "period"]),
    ("rm_adjustments_position", "rm_adjustments", ["position"]),
    ("rm_adjustment_changes_position", "rm_adjustment_changes", ["position"]),
]


def _service_role() -> str:
    # The revision module's name starts with a digit, so it is loaded by name, not imported.
    event_store = importlib.import_module("migrations.versions.0001_event_store")
    return str(event_store.service_role())


def upgrade() -> None:
    tables = _tables()
    for name, columns in tables:
        op.create_table(name, *columns)
    for index, table, indexed in INDEXES:
        op.create_index(index, table, indexed)
    if op.get_bind().dialect.name == "postgresql":
        role = _service_role()
        names = ", ".join(name for name, _ in tables)
        op.execute(f"REVOKE ALL ON {names} FROM PUBLIC, {role}")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {names} TO {role}")


def downgrade() -> None:
    for name, _ in reversed(_tables()):
        op.drop_table(name)
