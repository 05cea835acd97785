"""The read-model tables as SQLAlchemy Core objects, for queries; their DDL lives in migrations.

Fact tables (`rm_*` except `rm_figures` and `rm_views`) are insert-only: each row is one
fact an event established, stamped with the event's log `position`, so a query cuts any
of them at a position ("as known at") and, where the fact has one, at a business date.
Money is NUMERIC on PostgreSQL and exact decimal TEXT on SQLite, always Decimal in Python.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Integer,
    MetaData,
    Table,
)

from persistence.columns import Instant, Money, StoredText

metadata = MetaData()


def _position() -> Column[int]:
    return Column("position", BigInteger, nullable=False)


managers = Table(
    "rm_managers", metadata,
    Column("manager_id", StoredText, primary_key=True),
    Column("aggregate_id", StoredText, nullable=False, unique=True),
    Column("name", StoredText, nullable=False),
    Column("unit", StoredText, nullable=False),
    _position(),
)

grades = Table(
    "rm_grades", metadata,
    Column("manager_id", StoredText, primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("effective_on", Date, nullable=False),
    Column("grade", StoredText, nullable=False),
)

targets = Table(
    "rm_targets", metadata,
    Column("manager_id", StoredText, primary_key=True),
    Column("period", StoredText, primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("incremental", Money, nullable=False),
)

customers = Table(
    "rm_customers", metadata,
    Column("customer_id", StoredText, primary_key=True),
    Column("aggregate_id", StoredText, nullable=False, unique=True),
    Column("name", StoredText, nullable=False),
    Column("customer_class", StoredText, nullable=False),
    Column("industry", StoredText, nullable=False),
    Column("chain", StoredText),
    Column("group_name", StoredText),
    Column("last_year_contribution", Money, nullable=False),
    _position(),
)

holdings = Table(
    "rm_holdings", metadata,
    Column("customer_id", StoredText, primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("manager_id", StoredText, nullable=False),
    Column("effective_on", Date, nullable=False),
)

contributions = Table(
    "rm_contributions", metadata,
    # Keyed by position, not by posting id: the log already makes ids unique, and a key
    # that grows in order keeps bulk inserts of the largest fact table cheap.
    Column("position", BigInteger, primary_key=True),
    Column("contribution_id", StoredText, nullable=False),
    Column("customer_id", StoredText, nullable=False),
    Column("booked_on", Date, nullable=False),
    Column("interest_income", Money, nullable=False),
    Column("deposit_earnings", Money, nullable=False),
    Column("fee_income", Money, nullable=False),
    Column("risk_cost", Money, nullable=False),
    Column("source_system", StoredText, nullable=False),
    Column("external_id", StoredText, nullable=False),
)

deductions = Table(
    "rm_deductions", metadata,
    Column("deduction_id", StoredText, primary_key=True),
    Column("manager_id", StoredText, nullable=False),
    Column("rule_code", StoredText, nullable=False),
    Column("occurrences", Integer, nullable=False),
    Column("aggravated", Boolean, nullable=False),
    Column("disqualify", Boolean, nullable=False),
    Column("effective_on", Date, nullable=False),
    Column("points_per_occurrence", Integer, nullable=False),
    Column("ruleset_version", StoredText, nullable=False),
    Column("customer_id", StoredText),
    Column("description", StoredText, nullable=False),
    _position(),
)

deduction_changes = Table(
    "rm_deduction_changes", metadata,
    Column("deduction_id", StoredText, primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("status", StoredText, nullable=False),
    Column("points_total", Integer),
    Column("dispute_id", StoredText, nullable=False),
)

disputes = Table(
    "rm_disputes", metadata,
    Column("dispute_id", StoredText, primary_key=True),
    Column("deduction_id", StoredText, nullable=False),
    Column("manager_id", StoredText, nullable=False),
    _position(),
)

dispute_steps = Table(
    "rm_dispute_steps", metadata,
    Column("dispute_id", StoredText, primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("step", StoredText, nullable=False),
    Column("status", StoredText, nullable=False),
    Column("due_on", Date),
    Column("outcome", StoredText),
)

adjustments = Table(
    "rm_adjustments", metadata,
    Column("adjustment_id", StoredText, primary_key=True),
    Column("manager_id", StoredText, nullable=False),
    Column("period", StoredText, nullable=False),
    Column("points", Integer, nullable=False),
    _position(),
)

adjustment_changes = Table(
    "rm_adjustment_changes", metadata,
    Column("adjustment_id", StoredText, primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("status", StoredText, nullable=False),
)

rulesets = Table(
    "rm_rulesets", metadata,
    Column("version", StoredText, primary_key=True),
    Column("effective_from", Date, nullable=False),
    Column("content", StoredText, nullable=False),
    _position(),
)

ruleset_publications = Table(
    "rm_ruleset_publications", metadata,
    Column("version", StoredText, primary_key=True),
    _position(),
)

period_closings = Table(
    "rm_period_closings", metadata,
    Column("period", StoredText, primary_key=True),
    _position(),
    # The figures the closing froze, as the event recorded them (JSON text, decimals as text).
    Column("frozen", StoredText, nullable=False),
)

indicator_reports = Table(
    "rm_indicator_reports", metadata,
    # One row per raw indicator report (DESIGN §11); the latest one known at a cut counts.
    Column("report_id", StoredText, primary_key=True),
    Column("indicator", StoredText, nullable=False),
    Column("manager_id", StoredText, nullable=False),
    Column("period", StoredText, nullable=False),
    Column("measured_on", Date, nullable=False),
    Column("value", Money, nullable=False),
    Column("source_system", StoredText, nullable=False),
    Column("external_id", StoredText, nullable=False),
    _position(),
)

assessment_plans = Table(
    "rm_assessment_plans", metadata,
    # One row per plan (DESIGN §12); items, assessors and managers as JSON text.
    Column("plan_id", StoredText, primary_key=True),
    Column("period", StoredText, nullable=False),
    Column("unit", StoredText, nullable=False),
    Column("items", StoredText, nullable=False),
    Column("assessors", StoredText, nullable=False),
    Column("managers", StoredText, nullable=False),
    Column("closes_on", Date, nullable=False),
    _position(),
)

assessment_sheets = Table(
    "rm_assessment_sheets", metadata,
    # One row per save, submission or reopening; the latest step known at a cut counts.
    Column("plan_id", StoredText, primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("manager_id", StoredText, nullable=False),
    Column("assessor", StoredText, nullable=False),
    Column("step", StoredText, nullable=False),
    Column("scores", StoredText),
    Column("submitted_on", Date),
)

views = Table(
    "rm_views", metadata,
    Column("view_name", StoredText, primary_key=True),
    # NULL: the live view, which uses the rule set in force for each period.
    Column("ruleset_version", StoredText),
)

figures = Table(
    "rm_figures", metadata,
    Column("view_name", StoredText, primary_key=True),
    Column("manager_id", StoredText, primary_key=True),
    Column("period", StoredText, primary_key=True),
    Column("ruleset_version", StoredText, nullable=False),
    _position(),
    Column("score", Integer, nullable=False),
    Column("rating", StoredText, nullable=False),
    Column("error_points", Integer, nullable=False),
    Column("adjustment_points", Integer, nullable=False),
    Column("disqualified", Boolean, nullable=False),
    Column("base_salary", Money, nullable=False),
    Column("stock_task", Money, nullable=False),
    Column("incremental_task", Money, nullable=False),
    Column("target", Money, nullable=False),
    Column("actual", Money, nullable=False),
    Column("performance_pay", Money, nullable=False),
    Column("actual_pay", Money, nullable=False),
)

disqualification_steps = Table(
    "rm_disqualification_steps", metadata,  # migration 0011 (DESIGN §16)
    Column("manager_id", StoredText, primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("deduction_id", StoredText, primary_key=True),
    Column("step", StoredText, nullable=False),  # began, voided or reinstated
    Column("effective_on", Date),
)

# The projections' positions (migration 0008), written by the writer's role like the views.
tracking = Table(
    "rm_tracking", metadata,
    Column("application_name", StoredText, primary_key=True),
    Column("notification_id", BigInteger, nullable=False),
)

events = Table(
    "events", metadata,
    Column("position", BigInteger, primary_key=True),
    Column("topic", StoredText, nullable=False),
    Column("recorded_at", Instant, nullable=False),
)

FACT_TABLES: tuple[Table, ...] = (
    managers, grades, targets, customers, holdings, contributions, deductions,
    deduction_changes, disputes, dispute_steps, adjustments, adjustment_changes,
    rulesets, ruleset_publications, period_closings, indicator_reports,
    assessment_plans, assessment_sheets, disqualification_steps,
)
"""Every table the facts projection writes; a facts rebuild empties exactly these."""

VIEW_TABLES: tuple[Table, ...] = (views, figures)

READ_MODEL_TABLES: tuple[str, ...] = tuple(t.name for t in FACT_TABLES + VIEW_TABLES)
"""Every read-model table, by name (tests empty them between scenarios)."""
