"""The figure queries' baseline (issue 18): one prepared SELECT that reads the same fact
rows a score or a pay answer reads, on the bare driver, and does nothing else with them.

It cuts the log at the `known_at` instant the way `position_known_at` does, then reads
every table `projections/factset.py load` reads, with the same filters (the manager's
rows, the customers it ever held, their period's postings for pay; the rule sets,
publications, closings and plans whole), each row as JSON text. Whatever a figure costs
beyond it (statements, ORM, building facts, computing) is the figure's own.
"""

from __future__ import annotations

from typing import Any

# (table, filter) of every table `load` reads; $1 is the manager, $2 the known_at instant,
# $3 and $4 the pay period's first and last day.
MANAGER = "manager_id = $1"
HELD = "customer_id IN (SELECT customer_id FROM rm_holdings WHERE manager_id = $1)"
FACTS = (
    ("rm_managers", MANAGER),
    ("rm_grades", MANAGER),
    ("rm_targets", MANAGER),
    ("rm_customers", HELD),
    ("rm_holdings", HELD),
    ("rm_deductions", MANAGER),
    ("rm_deduction_changes",
     "deduction_id IN (SELECT deduction_id FROM rm_deductions WHERE manager_id = $1)"),
    ("rm_disputes", MANAGER),
    ("rm_dispute_steps",
     "dispute_id IN (SELECT dispute_id FROM rm_disputes WHERE manager_id = $1)"),
    ("rm_adjustments", MANAGER),
    ("rm_adjustment_changes",
     "adjustment_id IN (SELECT adjustment_id FROM rm_adjustments WHERE manager_id = $1)"),
    ("rm_rulesets", "true"),
    ("rm_ruleset_publications", "true"),
    ("rm_period_closings", "true"),
    ("rm_indicator_reports", MANAGER),
    ("rm_assessment_plans", "true"),
    ("rm_assessment_sheets", MANAGER),
)
OPTIONAL_FACTS = (("rm_disqualification_steps", MANAGER),)
"""Read when the schema has them (tables a later migration adds)."""
POSTINGS = ("rm_contributions", f"{HELD} AND booked_on BETWEEN $3 AND $4")

CUT = (
    "WITH cut AS (SELECT coalesce(max(position), 0) AS at FROM (SELECT position FROM events "
    "WHERE recorded_at = (SELECT max(recorded_at) FROM events WHERE recorded_at <= $2) "
    "OFFSET 0) AS last_append)"
)


def statement(tables: tuple[tuple[str, str], ...]) -> str:
    parts = [
        f"SELECT {n}, row_to_json(f)::text FROM {table} AS f, cut "
        f"WHERE f.position <= cut.at AND {where}"
        for n, (table, where) in enumerate(tables)
    ]
    return CUT + "\n" + "\nUNION ALL\n".join(parts)


def existing(curs: Any, tables: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    curs.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    present = {row[0] for row in curs.fetchall()}
    return tuple((table, where) for table, where in tables if table in present)


class Baseline:
    """The two prepared statements on one psycopg2 connection."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.curs = conn.cursor()
        read = FACTS + existing(self.curs, OPTIONAL_FACTS)
        self.curs.execute(f"PREPARE score_facts (text, timestamptz) AS {statement(read)}")
        self.curs.execute("PREPARE pay_facts (text, timestamptz, date, date) AS "
                          f"{statement((*read, POSTINGS))}")
        conn.commit()

    def score(self, manager: str, known_at: Any) -> int:
        self.curs.execute("EXECUTE score_facts (%s, %s)", (manager, known_at))
        rows = len(self.curs.fetchall())
        self.conn.rollback()  # the figure reads in its own transaction too
        return rows

    def pay(self, manager: str, known_at: Any, first_day: Any, last_day: Any) -> int:
        self.curs.execute("EXECUTE pay_facts (%s, %s, %s, %s)",
                          (manager, known_at, first_day, last_day))
        rows = len(self.curs.fetchall())
        self.conn.rollback()
        return rows
