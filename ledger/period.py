"""The period aggregate: an assessment quarter that, once closed, keeps its figures frozen."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from eventsourcing.domain import event

from ledger.base import LedgerAggregate
from ledger.ids import period_id
from ledger.quarter import Quarter
from ledger.rules import (
    FieldErrors,
    PeriodsCloseAfterTheyEnd,
    StepsInOrder,
    as_json_object,
    check,
)


class Period(LedgerAggregate):
    """One quarter (id: `period_id("2026Q1")`): open until closed, closed once.

    A correction after closing is still recorded as its own event elsewhere and
    shown as a prior-period adjustment; the frozen figures here never change.
    """

    class Opened(LedgerAggregate.Created):
        period: str

    def __init__(self, period: str) -> None:
        # Body of the Opened event: assigns only, because it re-runs on every replay.
        self.period = period
        self.status = "open"
        self._frozen: dict[str, Any] | None = None

    @classmethod
    def open(cls, period: str | Quarter) -> Period:
        """Opens quarter `period` ("2026Q1") so it can later be closed."""
        errors = FieldErrors()
        text = errors.period("period", period)
        errors.raise_if_any()
        return cls._create(cls.Opened, id=period_id(text), period=text)

    @property
    def frozen(self) -> dict[str, Any] | None:
        """A copy of the figures frozen at closing, or None while open."""
        return None if self._frozen is None else as_json_object(self._frozen)

    @property
    def quarter(self) -> Quarter:
        return Quarter.parse(self.period)

    def close(
        self, *, reason: str, today: date, freeze: Callable[[], Mapping[str, Any]]
    ) -> None:
        """Closes the period, freezing the figures `freeze` computes (opaque here).

        The figures are computed only once the rules allow closing: computing every
        manager's pay is the expensive part, and a refusal should not pay for it.
        """
        errors = FieldErrors()
        errors.text("reason", reason)
        errors.day("today", today)
        errors.raise_if_any()
        check(
            StepsInOrder("close", self.status, ("open",)),
            PeriodsCloseAfterTheyEnd(self.quarter, today),
        )
        frozen = freeze()
        errors.mapping("frozen", frozen)
        errors.raise_if_any()
        # Copied so that later changes to the caller's dict cannot reach the event.
        self._close(period=self.period, frozen=as_json_object(frozen), reason=reason)

    @event("Closed")
    def _close(self, period: str, frozen: dict[str, Any], reason: str) -> None:
        self.status = "closed"
        self._frozen = frozen
