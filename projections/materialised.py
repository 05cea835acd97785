"""Materialised figures per view (`rm_figures`), and the diff between two views.

A view holds, per manager and period, the full-period figures (no business-date cut) as
the facts stood at the view's tracking position. `live` uses the rule set in force for each
period; a shadow view uses one named version (draft or published) for every period.

A view is filled by a *sweep* (every manager, page by page, at one target position; the
target is kept in a `figures:NAME:sweep` tracking row so an interrupted sweep resumes at
the same target) and then *followed*: the managers touched by facts after the tracking
position are recomputed and the position advanced by compare-and-set, in one transaction.
Materialised figures do not depend on today's date, so they never go stale by themselves.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select, union
from sqlalchemy.sql import Select

from ledger.errors import Conflict, FormulaError
from ledger.quarter import Quarter
from ledger.ruleset_document import RuleSetDocument
from projections import tables as t
from projections.compute import (
    ALWAYS,
    INDICATOR_REPORTED,
    ScoreResult,
    pay_result,
    periods_of,
    posting_effect,
    rules_for,
    score_result,
)
from projections.database import (
    advance,
    dialect_insert,
    ensure_tracking,
    forget,
    reading,
    tracked,
    writing,
)
from projections.factset import FactSet, load, parsed_ruleset
from projections.rule_diff import exact_causes, moved_events

LIVE = "live"
MANAGERS_PER_PAGE = 100
"""Managers recomputed per transaction in a sweep (bounded work and memory per commit)."""
SWEEPERS = 2
"""Processes a rebuild's sweep shares its pages between (PostgreSQL, more than one core):
a page is reads at one position, then its rows and its own compare-and-set, and most of
its time is Python's (decoding facts, computing figures), which one process does on one
core only."""
POSITIONS_PER_STEP = 5_000
"""Log positions one follow step covers at most."""
MAX_DIFF_KEYS = 1_000
MAX_EVENTS_PER_KEY = 20

SCORE_FIGURES = ("score", "rating", "error_points", "adjustment_points", "disqualified")
PAY_FIGURES = (
    "base_salary", "stock_task", "incremental_task", "target", "actual", "performance_pay",
    "actual_pay",
)
FIGURES = SCORE_FIGURES + PAY_FIGURES

Progress = Callable[[int], None]


def figure_rows(facts: FactSet, view: str, version: str | None) -> list[dict[str, Any]]:
    """The view's rows for every manager and period in `facts`, at the facts' cut."""
    rows = []
    for manager_id in facts.manager_ids():
        for period in periods_of(facts, manager_id):
            try:
                rules = rules_for(facts, period, version).document
            except Conflict:
                continue  # No rule set in force for that period: nothing to materialise.
            try:
                rows.append(_row(facts, view, manager_id, period, rules))
            except FormulaError:
                # A formula that fails for this manager's values (validation guarantees only
                # that it survives zeros) leaves no row, so one manager cannot stop the view;
                # the query answers 409 naming the indicator and the position.
                continue
    return rows


def _row(
    facts: FactSet, view: str, manager_id: str, period: Quarter, rules: RuleSetDocument
) -> dict[str, Any]:
    score = score_result(facts, manager_id, period, ALWAYS, rules).figure
    pay = pay_result(facts, manager_id, period, ALWAYS, rules, score.score).figure
    return dict(
        view_name=view, manager_id=manager_id, period=str(period),
        ruleset_version=rules.version, position=facts.cut,
        score=score.score, rating=score.rating, error_points=score.error_points,
        adjustment_points=score.adjustment_points, disqualified=score.disqualified,
        **{name: getattr(pay, name) for name in PAY_FIGURES},
    )


class FigureView:
    """One named view in `rm_figures`, with its tracking rows."""

    def __init__(self, engine: Engine, name: str, version: str | None = None,
                 sweepers: int = 1) -> None:
        if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError("a view name is 1–64 letters, digits, '-' or '_'")
        self.engine = engine
        self.name = name
        self.version = version
        self.sweepers = sweepers
        """1, or SWEEPERS for a rebuild run by itself (a forked helper takes every other
        page); a worker or a web process sweeps alone."""

    @staticmethod
    def tracking_name(name: str) -> str:
        return f"figures:{name}"

    @property
    def tracking(self) -> str:
        return self.tracking_name(self.name)

    @property
    def sweep_tracking(self) -> str:
        return self.tracking + ":sweep"

    # --- definition -------------------------------------------------------------------

    def is_defined_as(self, version: str | None) -> bool:
        with reading(self.engine) as conn:
            row = conn.execute(select(t.views).where(t.views.c.view_name == self.name)).first()
        return row is not None and row.ruleset_version == version

    def define(self) -> None:
        with writing(self.engine) as conn:
            statement = dialect_insert(conn, t.views).values(
                view_name=self.name, ruleset_version=self.version
            )
            conn.execute(statement.on_conflict_do_update(
                index_elements=["view_name"], set_={"ruleset_version": self.version}
            ))

    def empty(self, conn: Connection) -> None:
        self.empty_view(conn, self.name)

    @classmethod
    def empty_view(cls, conn: Connection, name: str) -> None:
        # Tracking first, then rows: the order that excludes a concurrent step's rows
        # surviving without their position (see runner._empty_facts_and_live).
        tracking = cls.tracking_name(name)
        forget(conn, tracking, tracking + ":sweep")
        conn.execute(delete(t.figures).where(t.figures.c.view_name == name))

    def manager_count(self, position: int) -> int:
        with reading(self.engine) as conn:
            statement = select(func.count()).select_from(t.managers).where(
                t.managers.c.position <= position
            )
            return int(conn.execute(statement).scalar() or 0)

    # --- sweep ------------------------------------------------------------------------

    def sweep(self, target: int, progress: Progress | None = None) -> int:
        """Fills the view for every manager at one position, then follows up to `target`."""
        return self.follow(target, progress)

    def _start_sweep(self, target: int) -> None:
        # An interrupted sweep left its row: keep its target, so finished pages stay done.
        with writing(self.engine) as conn:
            if tracked(conn, self.tracking) is None:
                ensure_tracking(conn, self.sweep_tracking, target)

    def _sweep_pages(self, progress: Progress | None) -> None:
        with reading(self.engine) as conn:
            at = tracked(conn, self.sweep_tracking)
        if at is None:
            return  # Another process finished this sweep meanwhile.
        helper = _Helper.start(self, at) if self._shares_pages() else None
        if helper is None:
            swept = self._sweep_share(at, progress, lambda _number: True)
        else:
            try:
                swept = self._sweep_share(at, progress, lambda number: number % 2 == 0)
            finally:
                helped = helper.wait()
            if helped is None:  # It failed: its pages are swept here (done ones skipped).
                swept = swept and self._sweep_share(at, progress, lambda _number: True)
            elif progress:
                progress(helped)
        if not swept:
            return  # The sweep was finished or restarted elsewhere; follow() sees which.
        with writing(self.engine) as conn:
            # Finishing is itself a compare-and-set, so two sweepers finish once.
            if advance(conn, self.sweep_tracking, at, at):
                forget(conn, self.sweep_tracking)
                ensure_tracking(conn, self.tracking, at)

    def _shares_pages(self) -> bool:
        return (self.sweepers > 1 and self.engine.dialect.name == "postgresql"
                and hasattr(os, "fork") and (os.cpu_count() or 1) > 1)

    def _sweep_share(
        self, at: int, progress: Progress | None, mine: Callable[[int], bool]
    ) -> bool:
        """Sweeps the pages `mine` picks by their number; False when the sweep was
        finished or restarted elsewhere. Every sweeper numbers the same pages alike: the
        managers known at `at` do not change."""
        after, number = "", 0
        while True:
            page = self._managers_after(after, at)
            if not page:
                return True
            if mine(number):
                if not self._sweep_page(page, at):
                    return False
                if progress:
                    progress(len(page))
            after, number = page[-1], number + 1

    def _managers_after(self, after: str, at: int) -> list[str]:
        with reading(self.engine) as conn:
            statement = (
                select(t.managers.c.manager_id)
                .where(t.managers.c.manager_id > after, t.managers.c.position <= at)
                .order_by(t.managers.c.manager_id)
                .limit(MANAGERS_PER_PAGE)
            )
            return list(conn.execute(statement).scalars())

    def _sweep_page(self, page: list[str], at: int) -> bool:
        with reading(self.engine) as conn:
            without_jit(conn)
            # Managers already swept at this target (before an interruption) are skipped.
            done = set(conn.execute(
                select(t.figures.c.manager_id).distinct().where(
                    t.figures.c.view_name == self.name, t.figures.c.position == at,
                    t.figures.c.manager_id.in_(page),
                )
            ).scalars())
            todo = [m for m in page if m not in done]
            rows = figure_rows(load(conn, todo, at), self.name, self.version) if todo else []
        if not todo:
            return True
        with writing(self.engine) as conn:
            if not advance(conn, self.sweep_tracking, at, at):
                return False
            self._replace(conn, todo, rows)
        return True

    def _replace(
        self, conn: Connection, managers: Sequence[str], rows: list[dict[str, Any]]
    ) -> None:
        conn.execute(delete(t.figures).where(
            t.figures.c.view_name == self.name, t.figures.c.manager_id.in_(managers)
        ))
        if rows:
            conn.execute(t.figures.insert(), rows)

    # --- follow -----------------------------------------------------------------------

    def follow(self, until: int, progress: Progress | None = None) -> int:
        """Brings the view to position `until`: a sweep when it has no position yet, then
        steps that recompute the managers touched by facts after its position."""
        while True:
            with reading(self.engine) as conn:
                position = tracked(conn, self.tracking)
            if position is None:
                self._start_sweep(until)
                self._sweep_pages(progress)
                continue
            if position >= until:
                return position
            self._step(position, min(until, position + POSITIONS_PER_STEP))

    def _step(self, start: int, end: int) -> None:
        with reading(self.engine) as conn:
            without_jit(conn)
            managers = touched_managers(conn, start, end)
            pages = [
                (chunk, figure_rows(load(conn, chunk, end), self.name, self.version))
                for chunk in _chunks(managers, MANAGERS_PER_PAGE)
            ]
        with writing(self.engine) as conn:
            if not advance(conn, self.tracking, start, end):
                conn.rollback()  # Another process moved the view first; it redoes nothing.
                return
            for chunk, rows in pages:
                self._replace(conn, chunk, rows)


class _Helper:
    """A forked process sweeping the odd-numbered pages while its parent sweeps the rest.

    Sharing is safe because each page is its own compare-and-set on the sweep's tracking
    row (two sweepers of one page serialise on that row's lock, and a page found done is
    skipped), and the parent alone finishes the sweep, after the helper has exited. It
    holds one page at a time, like its parent, and stops when its parent is gone, so a
    killed rebuild leaves no sweeper behind; rerun, the rebuild resumes as before."""

    def __init__(self, pid: int, reader: int) -> None:
        self.pid = pid
        self.reader = reader

    @classmethod
    def start(cls, view: FigureView, at: int) -> _Helper:
        reader, writer = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which exits by os._exit
            os.close(reader)
            cls._run(view, at, parent, writer)
        os.close(writer)
        return cls(pid, reader)

    @staticmethod
    def _run(view: FigureView, at: int, parent: int, writer: int) -> None:
        code = 1
        try:
            # The pool's connections are the parent's: the child opens its own (and
            # psycopg2 closes a connection only in the process that opened it).
            view.engine.dispose(close=False)
            swept: list[int] = []

            def mine(number: int) -> bool:
                if os.getppid() != parent:
                    raise SystemExit(1)
                return number % 2 == 1

            view._sweep_share(at, swept.append, mine)
            os.write(writer, str(sum(swept)).encode())
            code = 0
        except BaseException:
            traceback.print_exc(file=sys.stderr)
        finally:
            os._exit(code)  # Nothing of the parent's (atexit, pools) runs here.

    def wait(self) -> int | None:
        """The managers the helper swept, or None when it failed."""
        with os.fdopen(self.reader, "rb") as pipe:
            told = pipe.read()
        _, status = os.waitpid(self.pid, 0)
        return int(told) if os.waitstatus_to_exitcode(status) == 0 and told else None


def without_jit(conn: Connection) -> None:
    """No JIT compilation for this transaction's statements (PostgreSQL).

    A page's facts are one statement over tens of thousands of postings: its estimated
    cost passes jit_above_cost (always right after a rebuild, whose tables have no
    statistics yet), and compiling it took 307 of its 368 ms (EXPLAIN ANALYZE, 100
    managers at 100k events; 163 ms without). The statement runs once, so the compiled
    code never pays for itself."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL jit = off")


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def touched_managers(conn: Connection, start: int, end: int) -> list[str]:
    """Managers whose figures facts at positions (start, end] may have changed."""

    def new(table: Any) -> Any:
        return table.c.position.between(start + 1, end)

    published = conn.execute(
        select(func.count()).select_from(t.ruleset_publications).where(
            new(t.ruleset_publications)
        )
    ).scalar()
    if published:
        # A publication can change every period it is in force for: recompute everyone.
        return list(conn.execute(
            select(t.managers.c.manager_id).where(t.managers.c.position <= end)
            .order_by(t.managers.c.manager_id)
        ).scalars())
    ever_held = t.holdings.alias("ever_held")
    d, a = t.deductions, t.adjustments
    queries: list[Select[Any]] = [
        select(d.c.manager_id).where(new(d)),
        select(d.c.manager_id).join(
            t.deduction_changes, t.deduction_changes.c.deduction_id == d.c.deduction_id
        ).where(new(t.deduction_changes)),
        select(t.disputes.c.manager_id).join(
            t.dispute_steps, t.dispute_steps.c.dispute_id == t.disputes.c.dispute_id
        ).where(new(t.dispute_steps)),
        select(a.c.manager_id).where(new(a)),
        select(a.c.manager_id).join(
            t.adjustment_changes, t.adjustment_changes.c.adjustment_id == a.c.adjustment_id
        ).where(new(t.adjustment_changes)),
        select(t.targets.c.manager_id).where(new(t.targets)),
        select(t.grades.c.manager_id).where(new(t.grades)),
        # A (re)assignment moves figures of everyone who ever held that customer.
        select(ever_held.c.manager_id).join(
            t.holdings, t.holdings.c.customer_id == ever_held.c.customer_id
        ).where(new(t.holdings)),
        select(ever_held.c.manager_id).join(
            t.contributions, t.contributions.c.customer_id == ever_held.c.customer_id
        ).where(new(t.contributions)),
        select(t.indicator_reports.c.manager_id).where(new(t.indicator_reports)),
        # A submitted or reopened sheet moves the qual_ names of its manager's formula.
        select(t.assessment_sheets.c.manager_id).where(new(t.assessment_sheets)),
        # A disqualification's steps move every period the state touches (DESIGN §16).
        select(t.disqualification_steps.c.manager_id).where(new(t.disqualification_steps)),
    ]
    found = conn.execute(union(*queries)).scalars()
    return sorted(set(found))


# --- diff -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FigureChange:
    figure: str
    before: Any
    after: Any
    delta: Any


@dataclass(frozen=True)
class KeyDiff:
    """How one manager's figures for one period differ between two views, and why."""

    manager_id: str
    period: str
    ruleset_before: str | None
    ruleset_after: str | None
    position_before: int | None
    position_after: int | None
    changes: tuple[FigureChange, ...]
    parameters: tuple[tuple[str, Any, Any], ...] = ()
    events: tuple[dict[str, Any], ...] = field(default=())
    more_events: int = 0
    # Figure -> the parameter paths whose revert moves it (DESIGN §16: exact causes).
    causes: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _delta(before: Any, after: Any) -> Any:
    numeric = (int, Decimal)
    if isinstance(before, bool) or isinstance(after, bool):
        return None
    if isinstance(before, numeric) and isinstance(after, numeric):
        return after - before
    return None


def _changes(before: Any, after: Any) -> tuple[FigureChange, ...]:
    found = []
    for name in FIGURES:
        old = getattr(before, name) if before is not None else None
        new = getattr(after, name) if after is not None else None
        if old != new:
            found.append(FigureChange(name, old, new, _delta(old, new)))
    return tuple(found)


def _view_rows(conn: Connection, view: str) -> dict[tuple[str, str], Any]:
    rows = conn.execute(select(t.figures).where(t.figures.c.view_name == view))
    return {(r.manager_id, r.period): r for r in rows}


def diff(engine: Engine, a: str, b: str, limit: int = MAX_DIFF_KEYS) -> list[KeyDiff]:
    """Per manager and period, the figures that differ from view `a` to view `b`, with the
    rule parameters that differ and the deduction and posting events behind the figures."""
    with reading(engine) as conn:
        before, after = _view_rows(conn, a), _view_rows(conn, b)
        if not before and not after:
            raise Conflict(f"views {a} and {b} hold no figures (were they built?)")
        return compare(conn, before, after, limit)


def compare(
    conn: Connection, before: Mapping[tuple[str, str], Any],
    after: Mapping[tuple[str, str], Any], limit: int = MAX_DIFF_KEYS,
    start_after: tuple[str, str] | None = None,
) -> list[KeyDiff]:
    """The explained differences between two sets of figure rows keyed (manager, period),
    in key order after `start_after` (a page's cursor); a key none of whose figures moved
    is left out."""
    found = []
    for key in sorted(before.keys() | after.keys()):
        if start_after is not None and key <= start_after:
            continue
        changes = _changes(before.get(key), after.get(key))
        if changes:
            found.append(_explained(conn, key, before.get(key), after.get(key), changes))
        if len(found) >= limit:
            break
    return found


def _document(conn: Connection, version: str | None) -> RuleSetDocument | None:
    if version is None:
        return None
    row = conn.execute(select(t.rulesets).where(t.rulesets.c.version == version)).first()
    return None if row is None else parsed_ruleset(row.version, row.content)


def parameter_changes(
    old: RuleSetDocument | None, new: RuleSetDocument | None
) -> tuple[tuple[str, Any, Any], ...]:
    """(path, before, after) for every rule-set parameter that differs."""
    if old is None or new is None or old.version == new.version:
        return ()
    p, q = old.parameters_used(), new.parameters_used()
    keys = sorted(p.keys() | q.keys())
    return tuple((k, p.get(k), q.get(k)) for k in keys if p.get(k) != q.get(k))


def _explained(
    conn: Connection, key: tuple[str, str], old: Any, new: Any,
    changes: tuple[FigureChange, ...],
) -> KeyDiff:
    manager_id, period_text = key
    old_rules = _document(conn, old.ruleset_version if old is not None else None)
    new_rules = _document(conn, new.ruleset_version if new is not None else None)
    positions = [r.position for r in (old, new) if r is not None]
    period = Quarter.parse(period_text)
    facts = load(conn, [manager_id], max(positions), period)
    events = moved_events(_behind(facts, manager_id, period, old_rules, new_rules,
                                  since=min(positions)))
    moved = tuple(c.figure for c in changes)
    causes = exact_causes(facts, manager_id, period, new_rules,
                          parameter_changes(old_rules, new_rules), new, moved)
    by_figure = {f: tuple(p for p, figs in causes.items() if f in figs) for f in moved}
    return KeyDiff(
        manager_id, period_text,
        old.ruleset_version if old is not None else None,
        new.ruleset_version if new is not None else None,
        old.position if old is not None else None,
        new.position if new is not None else None,
        changes,
        tuple(p for p in parameter_changes(old_rules, new_rules) if p[0] in causes),
        tuple(events[:MAX_EVENTS_PER_KEY]),
        max(0, len(events) - MAX_EVENTS_PER_KEY),
        by_figure,
    )


def _behind(
    facts: FactSet, manager_id: str, period: Quarter, old: RuleSetDocument | None,
    new: RuleSetDocument | None, since: int,
) -> list[dict[str, Any]]:
    """The deductions and postings behind the figures, each with its effect under both rules."""
    effects: dict[int, dict[str, Any]] = {}
    for label, doc in zip(("before", "after"), (old, new), strict=True):
        if doc is None:
            continue
        score = score_result(facts, manager_id, period, ALWAYS, doc)
        for c, line in zip(score.deductions, score.figure.lines, strict=False):
            entry = effects.setdefault(c.fact.position, _event(
                c.fact.position, "Deduction.Recorded", since, rule_code=c.fact.rule_code,
                status=c.counted.status,
            ))
            entry[f"effect_{label}"] = line.score_delta
        pay = pay_result(facts, manager_id, period, ALWAYS, doc, score.figure.score)
        for posting in pay.postings:
            entry = effects.setdefault(posting.position, _event(
                posting.position, "Contribution.Posted", since, customer_id=posting.customer_id,
            ))
            entry[f"effect_{label}"] = posting_effect(posting, doc)
        _reports_behind(effects, score, label, since)
    return [effects[p] for p in sorted(effects)]


def _reports_behind(
    effects: dict[int, dict[str, Any]], score: ScoreResult, label: str, since: int
) -> None:
    """The raw reports a scorecard counted, each with the value it gave its indicator (a
    rule set that does not declare the indicator counts no report of it)."""
    values = score.indicators.values.values() if score.indicators is not None else ()
    for value in values:
        report = value.report
        if report is None:
            continue
        entry = effects.setdefault(report.position, _event(
            report.position, INDICATOR_REPORTED, since, indicator=value.name,
            value=report.value,
        ))
        entry[f"effect_{label}"] = report.value


def _event(position: int, kind: str, since: int, **details: Any) -> dict[str, Any]:
    # `new`: recorded after the earlier of the two views was computed.
    return {"position": position, "type": kind, "new": position > since, **details}


def figure_of(engine: Engine, view: str, manager_id: str, period: str) -> dict[str, Any] | None:
    """One materialised row of a view, as a plain dict (None when the view has none)."""
    with reading(engine) as conn:
        row = conn.execute(select(t.figures).where(
            t.figures.c.view_name == view, t.figures.c.manager_id == manager_id,
            t.figures.c.period == period,
        )).first()
    return None if row is None else dict(row._mapping)
