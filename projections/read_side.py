"""The query side: every figure at any business date (`as_of`) and any recording instant
(`known_at`), computed from the fact tables with `ledger.calculation`.

`known_at` becomes a log position (the last event recorded at or before it; by default the
head), and only facts at or before that position count, including rule-set publications,
so a question about the past is answered under the rules as they were known then. Before
answering, the facts are brought up to that position inline if a worker has not done so
yet (read your writes); past the time bound the query raises `ProjectionLagging`.

Answers are plain dicts: Decimal for money, int for points, date and datetime objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import func, select

from ledger.application import LedgerApplication
from ledger.errors import Conflict, InvalidInput, NotFound, ProjectionLagging
from ledger.quarter import Quarter
from projections import tables as t
from projections.assessment_answers import assessment_answer, plan_answer, tasks_answer
from projections.closing import (
    Correction,
    carried_in,
    carry_start,
    closings_by_period,
    corrections,
    frozen_entry,
    frozen_figures,
)
from projections.compute import (
    PERIOD_CLOSED,
    PayResult,
    ScoreResult,
    pay_result,
    portfolio_of,
    posting_effect,
    rules_for,
    score_result,
    score_steps,
)
from projections.database import external_workers, read_engine_for, reading, tracked, wait_for
from projections.factset import ClosingFact, FactSet, load, load_closings
from projections.indicator_answers import formula_explanation, indicators_answer
from projections.runner import FACTS, FactsProjection
from projections.standing import FLAGS, annual, standing

__all__ = ["Consistency", "ProjectionLagging", "ReadSide", "Unasked"]

DISPUTE_STATUSES = ("open", "decided", "appealed", "appeal_decided", "withdrawn")
MAX_DISPUTES = 1_000
"""The longest queue one call returns (TB: bound everything)."""
MAX_MANAGERS_TO_FREEZE = 10_000
"""A bank with more managers closes its periods in another way (TB: bound everything)."""
MANAGERS_PER_LOAD = 100
MAX_UNIT_MANAGERS = 2_000
"""The most managers one plan or one standings list covers (TB: bound everything)."""
MAX_PLANS = 1_000


class Consistency(Protocol):
    """What the caller of a query asks about consistency, and is told (read your writes)."""

    source: str
    """Where the floor comes from (a header's name), to name in a refusal."""

    def floor(self) -> int | None:
        """The log position the answer must include (the caller's own last write), or None
        for every event acknowledged when the query was received."""
        ...

    def answered(self, position: int, waited: float) -> None:
        """Told the position the read models held for the answer, and the seconds waited."""
        ...


class Unasked:
    """No caller asking: every acknowledged event, and nobody to tell."""

    source = "position"

    def floor(self) -> int | None:
        return None

    def answered(self, position: int, waited: float) -> None:
        return None


@dataclass(frozen=True)
class _Cut:
    as_of: date
    known_at: datetime
    position: int


class ReadSide:
    """Scores, pay, portfolios, timelines and dispute queues of one ledger."""

    def __init__(
        self, app: LedgerApplication, catch_up_timeout: float = 2.0,
        consistency: Consistency | None = None,
    ) -> None:
        self.app = app
        self.catch_up_timeout = catch_up_timeout
        self.consistency: Consistency = consistency or Unasked()
        self._facts = FactsProjection(app)
        # Queries read as the service, from the standby when one is configured; only
        # `_facts`, catching up inline when no workers keep the views, writes (as the writer).
        self.engine = read_engine_for(app)
        self.inline = not external_workers(app)

    # --- read your writes -------------------------------------------------------------

    def catch_up(self, timeout: float = 2.0) -> int:
        """Makes the facts hold every event acknowledged so far; raises ProjectionLagging
        past `timeout`. Returns the position they hold.

        Always the head, never the caller's Consistent-After: callers (reports, lists) may
        have read the head before and then read the views up to it."""
        if self.inline:
            reached = self._facts.catch_up(timeout=timeout)
            self.consistency.answered(reached, 0.0)
            return reached
        return self._wait(self._head(), timeout)

    def _ensure(self, position: int) -> int:
        """Waits (bounded) until the facts hold `position`; returns the position they hold.

        Without workers apart, this process brings them there itself; with workers, it
        only reads, polling the (replica's) tracking row until their writes arrive."""
        if self.inline:
            with reading(self.engine) as conn:
                reached = tracked(conn, FACTS) or 0
            if reached < position:
                reached = self._facts.catch_up(until=position, timeout=self.catch_up_timeout)
            if reached < position:
                self._refuse_beyond_head(position)
            self.consistency.answered(reached, 0.0)
            return reached
        return self._wait(position, self.catch_up_timeout)

    def _wait(self, position: int, timeout: float) -> int:
        try:
            reached, waited = wait_for(self.engine, FACTS, position, timeout)
        except ProjectionLagging:
            self._refuse_beyond_head(position)
            raise
        self.consistency.answered(reached, waited)
        return reached

    def _refuse_beyond_head(self, position: int) -> None:
        """A position the log does not hold yet is the caller's mistake, not a lag."""
        head = self._head()
        if position > head:
            raise InvalidInput({self.consistency.source: [
                f"the log holds no position {position} yet (its head is {head})"]})

    def _head(self) -> int:
        """The primary's head: one cheap read (an index's last entry)."""
        return int(self.app.recorder.max_notification_id() or 0)

    def _cut(
        self, as_of: date | None, known_at: datetime | None, position: int | None = None
    ) -> _Cut:
        if position is not None:
            # A statement's recomputation: the log exactly as it stood at that position.
            self._ensure(position)
            recorded = self._recorded_at([position])
            if position not in recorded:
                raise InvalidInput({"position": [f"the log holds no position {position}"]})
            return _Cut(as_of or self.app.today(), recorded[position], position)
        if known_at is not None:
            if known_at.tzinfo is None:
                raise InvalidInput({"known_at": ["must carry a time zone (RFC 3339)"]})
            position = self.app.position_known_at(known_at)
            self._ensure(position)
            return _Cut(as_of or self.app.today(), known_at, position)
        floor = self.consistency.floor()
        if floor is None:
            # Every event the primary had acknowledged when the query was received.
            instant, position = self.app.clock(), self._head()
            self._ensure(position)
            return _Cut(as_of or self.app.today(), instant, position)
        # The caller's own writes (Consistent-After): whatever the views hold once they hold
        # those, known as of that position's recording time, never "now".
        position = self._ensure(floor)
        recorded = self._recorded_at([position]) if position else {}
        return _Cut(as_of or self.app.today(), recorded.get(position, self.app.clock()), position)

    def _load(
        self, manager_id: str, cut: _Cut, period: Quarter | None = None, postings: bool = False
    ) -> FactSet:
        with reading(self.engine) as conn:
            facts = load(conn, [manager_id], cut.position, period, postings=postings)
        facts.manager(manager_id)  # NotFound for a manager unknown at that cut
        return facts

    def _load_for_pay(self, manager_ids: list[str], position: int, period: Quarter) -> FactSet:
        """The facts a pay answer needs: the period's postings, and those of the closed
        periods just before it whose corrections may be paid with it."""
        with reading(self.engine) as conn:
            closings = closings_by_period(load_closings(conn, position))
            start = carry_start(closings, period).first_day
            return load(conn, manager_ids, position, period, postings=True, booked_from=start)

    # --- score and pay ----------------------------------------------------------------

    def score(
        self, manager_id: str, period: str, *, as_of: date | None = None,
        known_at: datetime | None = None, explain: bool = False, position: int | None = None,
    ) -> dict[str, Any]:
        """{score, rating, error_points, adjustment_points, disqualified, ruleset_version,
        as_of, known_at}; with `explain`, each deduction and adjustment with its effect and
        log position, and the rule-set parameters used."""
        quarter = Quarter.parse(period)
        cut = self._cut(as_of, known_at, position)
        facts = self._load(manager_id, cut, quarter)
        result = self._score(facts, manager_id, quarter, cut)
        figure = result.figure
        answer: dict[str, Any] = dict(
            manager_id=manager_id, period=period, score=figure.score, rating=figure.rating,
            error_points=figure.error_points, adjustment_points=figure.adjustment_points,
            disqualified=figure.disqualified, ruleset_version=figure.ruleset_version,
            as_of=cut.as_of, known_at=cut.known_at,
        )
        if explain:
            answer["explanation"] = _score_explanation(result)
        return answer

    def pay(
        self, manager_id: str, period: str, *, as_of: date | None = None,
        known_at: datetime | None = None, explain: bool = False, position: int | None = None,
    ) -> dict[str, Any]:
        """{base_salary, stock_task, incremental_task, target, actual, performance_pay, score,
        actual_pay, ruleset_version, as_of, known_at}, money as Decimal rounded to 0.01; with
        `explain`, the calculation steps, holdings, postings and target, and the parameters."""
        quarter = Quarter.parse(period)
        cut = self._cut(as_of, known_at, position)
        facts = self._load_for_pay([manager_id], cut.position, quarter)
        facts.manager(manager_id)  # NotFound for a manager unknown at that cut
        answer = self._pay_answer(facts, manager_id, quarter, cut, explain)
        return self._with_log_details(answer, closings_by_period(facts.closings).get(quarter))

    def _pay_answer(
        self, facts: FactSet, manager_id: str, period: Quarter, cut: _Cut, explain: bool
    ) -> dict[str, Any]:
        """The pay answer; for a closed period (as_of at or after its end) the frozen
        figures, with the corrections recorded since as prior-period adjustments."""
        closings = closings_by_period(facts.closings)
        closing = closings.get(period)
        frozen = _frozen_pay(closing, manager_id, period, cut.as_of)
        # A frozen answer is explained by the facts it was computed from.
        basis = facts.upto(closing.freeze_position) if frozen and closing else facts
        score = self._score(basis, manager_id, period, cut)
        result = pay_result(basis, manager_id, period, cut.as_of, score.rules, score.figure.score)
        answer = _pay_figures(result, manager_id, period, cut)
        incoming = carried_in(facts, manager_id, period, closings)
        total = sum((c.actual_pay_delta for c in incoming), Decimal("0.00"))
        answer.update(
            status="closed" if closing else "open", closed_at=None, frozen=frozen is not None,
            prior_period_adjustments=[], prior_period_adjustment_total=total,
            payable=answer["actual_pay"] + total,
        )
        if frozen is not None and closing is not None:
            answer.update(frozen_figures(frozen))
            answer["prior_period_adjustments"] = corrections(
                facts, manager_id, period, closing.freeze_position, closings)
        answer["prior_period_adjustment"] = dict(
            total=answer["prior_period_adjustment_total"], lines=incoming)
        if explain:
            answer["explanation"] = _pay_explanation(result, score)
        return answer

    def _with_log_details(
        self, answer: dict[str, Any], closing: ClosingFact | None
    ) -> dict[str, Any]:
        """Adds what the log says about the positions in a pay answer: the closing's
        recording time, and each correction's type and recording time."""
        lines: list[Correction] = [*answer["prior_period_adjustments"],
                                   *answer["prior_period_adjustment"]["lines"]]
        positions = [c.position for c in lines] + ([closing.position] if closing else [])
        logged = self._logged(positions)
        answer["closed_at"] = logged[closing.position][1] if closing else None
        answer["prior_period_adjustments"] = [
            _correction(c, logged) for c in answer["prior_period_adjustments"]]
        answer["prior_period_adjustment"]["lines"] = [
            _correction(c, logged) for c in answer["prior_period_adjustment"]["lines"]]
        return answer

    def pay_to_freeze(self, period: str) -> dict[str, Any]:
        """Every manager's full-period pay at the head of the log now, for a closing to
        keep: {period, as_of, known_at, position, managers: {id: figures as text}}."""
        quarter = Quarter.parse(period)
        position = int(self.app.recorder.max_notification_id() or 0)
        self._ensure(position)
        known_at = self._logged([position]).get(position, (None, self.app.clock()))[1]
        cut = _Cut(quarter.last_day, known_at, position)
        managers: dict[str, Any] = {}
        for chunk in _chunks(self._managers_at(position), MANAGERS_PER_LOAD):
            facts = self._load_for_pay(chunk, position, quarter)
            for manager_id in chunk:
                answer = self._pay_answer(facts, manager_id, quarter, cut, explain=False)
                managers[manager_id] = frozen_entry(answer)
        # Instants as RFC 3339 text: the closing event stores them as it answers them.
        instant = known_at.astimezone(UTC).isoformat(timespec="microseconds")
        return dict(period=str(quarter), as_of=quarter.last_day, position=position,
                    known_at=instant.replace("+00:00", "Z"), managers=managers)

    def _managers_at(self, position: int) -> list[str]:
        with reading(self.engine) as conn:
            found = list(conn.execute(
                select(t.managers.c.manager_id).where(t.managers.c.position <= position)
                .order_by(t.managers.c.manager_id).limit(MAX_MANAGERS_TO_FREEZE + 1)
            ).scalars())
        if len(found) > MAX_MANAGERS_TO_FREEZE:
            raise Conflict(f"more than {MAX_MANAGERS_TO_FREEZE} managers: too many to freeze "
                           "in one request")
        return found

    def _score(self, facts: FactSet, manager_id: str, period: Quarter, cut: _Cut) -> ScoreResult:
        rules = rules_for(facts, period).document
        return score_result(facts, manager_id, period, cut.as_of, rules)

    def indicators(
        self, manager_id: str, period: str, *, as_of: date | None = None,
        known_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Every indicator of the rule set in force with its value, kind, formula and source
        (the report it came from, or its default), and the score formula (DESIGN §11)."""
        quarter = Quarter.parse(period)
        cut = self._cut(as_of, known_at)
        facts = self._load(manager_id, cut, quarter)
        result = self._score(facts, manager_id, quarter, cut)
        return dict(manager_id=manager_id, period=period, as_of=cut.as_of,
                    known_at=cut.known_at, score=result.figure.score,
                    **indicators_answer(result))

    # --- portfolio and timeline -------------------------------------------------------

    def portfolio(
        self, manager_id: str, *, as_of: date | None = None, known_at: datetime | None = None
    ) -> dict[str, Any]:
        """The customers held on `as_of`: {manager_id, customers: [{customer_id, name, class,
        group, held_from}], as_of, known_at}."""
        cut = self._cut(as_of, known_at)
        facts = self._load(manager_id, cut)
        customers = [
            dict(customer_id=c.customer_id, name=c.name, **{"class": c.customer_class},
                 group=c.group_name, held_from=span.held_from)
            for c, span in portfolio_of(facts, manager_id, cut.as_of)
        ]
        return dict(manager_id=manager_id, customers=customers, as_of=cut.as_of,
                    known_at=cut.known_at)

    def timeline(
        self, manager_id: str, period: str, *, as_of: date | None = None,
        known_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Every event that moved the score, in log order: {items: [{position, recorded_at,
        type, effective_on, effect, score_after, ruleset_version}], ...}. A rule-set
        publication appears when it moved the score."""
        quarter = Quarter.parse(period)
        cut = self._cut(as_of, known_at)
        facts = self._load(manager_id, cut, quarter)
        steps = list(score_steps(facts, manager_id, quarter, cut.as_of))
        closing = closings_by_period(facts.closings).get(quarter)
        recorded = self._recorded_at([s.moment.position for s in steps])
        items = [
            dict(position=s.moment.position, recorded_at=recorded[s.moment.position],
                 type=s.moment.type, effective_on=s.moment.effective_on, effect=s.effect,
                 score_after=s.score_after, ruleset_version=s.ruleset_version,
                 prior_period=_after_freeze(closing, s.moment.position, s.moment.type))
            for s in steps
        ]
        in_force = facts.rulesets.in_force(quarter)
        return dict(manager_id=manager_id, period=period, items=items, as_of=cut.as_of,
                    known_at=cut.known_at, status="closed" if closing else "open",
                    closed_at=recorded.get(closing.position) if closing else None,
                    ruleset_version=in_force.version if in_force is not None else None)

    def _recorded_at(self, positions: list[int]) -> dict[int, datetime]:
        return {p: recorded_at for p, (_, recorded_at) in self._logged(positions).items()}

    def _logged(self, positions: Iterable[int]) -> dict[int, tuple[str, datetime]]:
        """Each position's event type ("Deduction.Voided") and recording time."""
        wanted = sorted(set(positions))
        if not wanted:
            return {}
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(t.events.c.position, t.events.c.topic, t.events.c.recorded_at)
                .where(t.events.c.position.in_(wanted))
            )
            return {int(p): (topic.rsplit(":", 1)[-1], r) for p, topic, r in rows}

    # --- dispute queue ----------------------------------------------------------------

    def disputes(
        self, *, status: str | None = None, overdue: bool | None = None,
        manager_id: str | None = None, today: date | None = None, limit: int = MAX_DISPUTES,
        after: int = 0,
    ) -> list[dict[str, Any]]:
        """Disputes as they stand now, oldest first; overdue = awaiting a decision past due;
        `after` a dispute's opening position (the cursor of the page before)."""
        if status is not None and status not in DISPUTE_STATUSES:
            raise InvalidInput({"status": [f"must be one of {', '.join(DISPUTE_STATUSES)}"]})
        if not 1 <= limit <= MAX_DISPUTES:
            raise InvalidInput({"limit": [f"must be between 1 and {MAX_DISPUTES}"]})
        day = today or self.app.today()
        self._cut(None, None)
        with reading(self.engine) as conn:
            queue = [_queue_item(row, day) for row in conn.execute(_queue(manager_id, after))]
        return [
            item for item in queue
            if (status is None or item["status"] == status)
            and (overdue is None or item["overdue"] == overdue)
        ][:limit]

    # --- qualitative assessment, the year and standings (DESIGN §12–13) --------------

    def unit_managers(self, unit: str) -> list[str]:
        """The managers of a unit as the read models know them now (a plan's sheets)."""
        self._cut(None, None)
        with reading(self.engine) as conn:
            return list(conn.execute(
                select(t.managers.c.manager_id).where(t.managers.c.unit == unit)
                .order_by(t.managers.c.manager_id).limit(MAX_UNIT_MANAGERS)).scalars())

    def assessment(
        self, manager_id: str, period: str, *, as_of: date | None = None,
        known_at: datetime | None = None, who_gave_what: bool = False,
    ) -> dict[str, Any]:
        """Item and dimension results of the manager's plans in the period (DESIGN §12)."""
        quarter = Quarter.parse(period)
        cut = self._cut(as_of, known_at)
        facts = self._load(manager_id, cut)
        return dict(assessment_answer(facts, manager_id, quarter, who_gave_what),
                    as_of=cut.as_of, known_at=cut.known_at)

    def assessment_plan(self, plan_id: str) -> dict[str, Any]:
        cut = self._cut(None, None)
        facts = self._plan_facts(cut.position, plan_id)
        answer = plan_answer(facts, plan_id)
        if answer is None:
            raise NotFound(f"no assessment plan {plan_id}")
        return answer

    def assessment_tasks(self, subject: str) -> list[dict[str, Any]]:
        """The caller's open sheets in plans not yet closed (the bank's today)."""
        cut = self._cut(None, None)
        return tasks_answer(self._plan_facts(cut.position, None), subject, self.app.today())

    def _plan_facts(self, position: int, plan_id: str | None) -> FactSet:
        with reading(self.engine) as conn:
            statement = select(t.assessment_plans.c.managers).where(
                t.assessment_plans.c.position <= position)
            if plan_id is not None:
                statement = statement.where(t.assessment_plans.c.plan_id == plan_id)
            managers = sorted({m for text in conn.execute(statement.limit(MAX_PLANS)).scalars()
                               for m in json.loads(text)})
            return load(conn, managers, position, postings=False)

    def annual(
        self, manager_id: str, year: int, *, as_of: date | None = None,
        known_at: datetime | None = None,
    ) -> dict[str, Any]:
        """The year's quarters, annual score and rating, and total pay (DESIGN §13)."""
        cut = self._cut(as_of, known_at)
        facts = self._load(manager_id, cut, postings=True)
        return dict(annual(facts, manager_id, year, cut.as_of), as_of=cut.as_of,
                    known_at=cut.known_at)

    def standing(
        self, manager_id: str, *, as_of: date | None = None, known_at: datetime | None = None
    ) -> dict[str, Any]:
        """The flags consecutive ratings bring on as_of, with their quarters and cause."""
        cut = self._cut(as_of, known_at)
        facts = self._load(manager_id, cut, postings=True)
        flags = standing(facts, manager_id, cut.as_of)
        self._with_causes(flags)
        return dict(manager_id=manager_id, flags=flags, as_of=cut.as_of, known_at=cut.known_at)

    def standings(
        self, *, flag: str | None = None, unit: str | None = None, as_of: date | None = None,
        known_at: datetime | None = None, after: str | None = None,
        limit: int = MAX_UNIT_MANAGERS,
    ) -> dict[str, Any]:
        """Every manager's flags (of the unit, holding `flag`), by manager id: a page of
        `limit` managers after the cursor `after`; `next_after` is the next page's cursor."""
        if flag is not None and flag not in FLAGS:
            raise InvalidInput({"flag": [f"must be one of {', '.join(FLAGS)}"]})
        cut = self._cut(as_of, known_at)
        items = []
        examined = self._managers_of(unit, cut.position, after, limit)
        for manager_id in examined:
            facts = self._load(manager_id, cut, postings=True)
            flags = [f for f in standing(facts, manager_id, cut.as_of)
                     if flag is None or f["flag"] == flag]
            if flags:
                self._with_causes(flags)
                items.append(dict(manager_id=manager_id, unit=facts.manager(manager_id).unit,
                                  flags=flags))
        full = len(examined) == limit
        return dict(items=items, flag=flag, unit=unit, as_of=cut.as_of, known_at=cut.known_at,
                    next_after=examined[-1] if full and examined else None)

    def _managers_of(self, unit: str | None, position: int, after: str | None = None,
                     limit: int = MAX_UNIT_MANAGERS) -> list[str]:
        statement = select(t.managers.c.manager_id).where(t.managers.c.position <= position)
        if unit is not None:
            statement = statement.where(t.managers.c.unit == unit)
        if after is not None:
            statement = statement.where(t.managers.c.manager_id > after)
        with reading(self.engine) as conn:
            return list(conn.execute(
                statement.order_by(t.managers.c.manager_id).limit(limit)).scalars())

    def _with_causes(self, flags: list[dict[str, Any]]) -> None:
        """Adds each cause's recording time (the log knows it, the facts do not)."""
        logged = self._logged([f["cause"]["position"] for f in flags if f["cause"]])
        for f in flags:
            if f["cause"]:
                kind, recorded_at = logged[f["cause"]["position"]]
                f["cause"] = dict(f["cause"], type=f["cause"]["type"] or kind,
                                  recorded_at=recorded_at)


def _pay_figures(
    result: PayResult, manager_id: str, period: Quarter, cut: _Cut
) -> dict[str, Any]:
    figure = result.figure
    return dict(
        manager_id=manager_id, period=str(period), base_salary=figure.base_salary,
        stock_task=figure.stock_task, incremental_task=figure.incremental_task,
        target=figure.target, actual=figure.actual, performance_pay=figure.performance_pay,
        score=figure.score, actual_pay=figure.actual_pay,
        ruleset_version=figure.ruleset_version, as_of=cut.as_of, known_at=cut.known_at,
    )


def _frozen_pay(
    closing: ClosingFact | None, manager_id: str, period: Quarter, as_of: date
) -> dict[str, Any] | None:
    """The manager's frozen pay, when the answer is the closed period's final figure.

    A business date inside the period asks for an interim figure, which no closing froze.
    """
    if closing is None or as_of < period.last_day:
        return None
    return closing.frozen_pay_of(manager_id)


def _after_freeze(closing: ClosingFact | None, position: int, kind: str) -> bool:
    return closing is not None and position > closing.freeze_position and kind != PERIOD_CLOSED


def _correction(c: Correction, logged: dict[int, tuple[str, datetime]]) -> dict[str, Any]:
    kind, recorded_at = logged[c.position]
    return dict(
        period=str(c.period), position=c.position, recorded_at=recorded_at, type=kind,
        effective_on=c.effective_on, effect=c.changes, delta=c.actual_pay_delta,
        actual_pay_after=c.actual_pay_after, carried_into=str(c.carried_into),
    )


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _queue(manager_id: str | None, after: int = 0) -> Any:
    """Each dispute with its latest step (the step with the highest position)."""
    steps = t.dispute_steps
    last = (
        select(steps.c.dispute_id, func.max(steps.c.position).label("position"))
        .group_by(steps.c.dispute_id).subquery()
    )
    statement = (
        select(t.disputes.c.dispute_id, t.disputes.c.deduction_id, t.disputes.c.manager_id,
               steps.c.status, steps.c.due_on, steps.c.step, t.disputes.c.position)
        .join(last, last.c.dispute_id == t.disputes.c.dispute_id)
        .join(steps, (steps.c.dispute_id == last.c.dispute_id)
              & (steps.c.position == last.c.position))
        .where(t.disputes.c.position > after)
        .order_by(t.disputes.c.position)
    )
    if manager_id is not None:
        statement = statement.where(t.disputes.c.manager_id == manager_id)
    return statement


AWAITING = {"open": "reviewer", "appealed": "appeal_board"}
"""Whose decision a dispute awaits, by status (nothing is decided automatically)."""


def _queue_item(row: Any, today: date) -> dict[str, Any]:
    pending = row.status in AWAITING
    # While a request for information is open the filer owes the next step, not a reviewer.
    awaiting = "filer" if row.step == "InformationRequested" else AWAITING.get(row.status)
    return dict(
        dispute_id=UUID(hex=row.dispute_id), deduction_id=UUID(hex=row.deduction_id),
        manager_id=row.manager_id, status=row.status, awaiting=awaiting,
        due_on=row.due_on, overdue=pending and row.due_on is not None and today > row.due_on,
        position=row.position,
    )


# --- explanations ---------------------------------------------------------------------


def _score_explanation(result: ScoreResult) -> dict[str, Any]:
    lines: list[dict[str, Any]] = []
    by_id = {c.fact.deduction_id: c for c in result.deductions}
    adjustments = list(result.adjustments)
    for line in result.figure.lines:
        entry: dict[str, Any] = dict(
            position=None, type=line.kind, effect=line.score_delta, counted=line.counted,
            rule_code=line.rule_code, note=line.note,
        )
        counted = by_id.get(line.source)
        if counted is not None:
            entry.update(
                position=counted.fact.position, type="Deduction.Recorded",
                deduction_id=UUID(hex=counted.fact.deduction_id),
                effective_on=counted.fact.effective_on, occurrences=counted.fact.occurrences,
                aggravated=counted.fact.aggravated,
                points_per_occurrence=counted.points_per_occurrence,
                error_points=counted.counted.error_points, status=counted.counted.status,
                status_position=counted.change.position if counted.change else None,
            )
        elif line.kind == "adjustment" and adjustments:
            # score_for lists adjustments in the order they were given, after deductions.
            adjustment, approval = adjustments.pop(0)
            entry.update(position=approval.position, type="Adjustment.Approved",
                         adjustment_id=UUID(hex=adjustment.adjustment_id),
                         proposed_position=adjustment.position)
        lines.append(entry)
    codes = {c.fact.rule_code for c in result.deductions}
    return dict(lines=lines, parameters=_parameters(result, codes, ("score.",)),
                **formula_explanation(result))


def _pay_explanation(result: PayResult, score: ScoreResult) -> dict[str, Any]:
    lines: list[dict[str, Any]] = [
        dict(position=None, type="calculation", label=line.label, effect=line.amount,
             detail=line.detail)
        for line in result.figure.lines
    ]
    for span, customer in result.holdings:
        lines.append(dict(
            position=span.fact.position, type="Customer.Assigned", customer_id=customer.customer_id,
            held_from=span.held_from, held_to=span.held_to,
            effect=None, last_year_contribution=customer.last_year_contribution,
        ))
    for posting in result.postings:
        lines.append(dict(
            position=posting.position, type="Contribution.Posted",
            customer_id=posting.customer_id, booked_on=posting.booked_on,
            effect=posting_effect(posting, score.rules),
        ))
    if result.target is not None:
        lines.append(dict(position=result.target.position, type="Manager.TargetSet",
                          effect=result.target.incremental, period=result.target.period))
    return dict(
        lines=lines, grade=result.grade, score=_score_explanation(score),
        parameters=_parameters(score, set(), ("pay.", "score.base")),
    )


def _parameters(result: ScoreResult, codes: set[str], prefixes: tuple[str, ...]) -> dict[str, Any]:
    wanted = {f"deductions.{code}.points" for code in codes}
    return {
        key: value for key, value in result.rules.parameters_used().items()
        if key.startswith(prefixes) or key in wanted
    } | {"version": result.rules.version}
