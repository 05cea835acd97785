"""The indicator report aggregate: one raw indicator's value for a manager and period (§11).

A report is identified by its source keys (source_system, external_id), like a posting, so
a retry addresses the same aggregate. A correction is a new report with new keys for the
same indicator, manager and period: it supersedes the earlier one from its recording on,
and both stay in the log.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from ledger.base import LedgerAggregate
from ledger.ids import indicator_report_id
from ledger.quarter import Quarter
from ledger.rules import (
    FieldErrors,
    MeasurementsBelongToTheirPeriod,
    OnlyDeclaredRawIndicatorsAreReported,
    check,
)
from ledger.scorecard import Scorecard

MAX_VALUE = Decimal("1e15")
MAX_PLACES = 12


class IndicatorReport(LedgerAggregate):
    """One reported value of a raw indicator, as its source system sent it."""

    class Reported(LedgerAggregate.Created):
        indicator: str
        manager_id: str
        period: str
        measured_on: date
        value: Decimal
        ruleset_version: str
        # Redeclared as constructor arguments: for a report, the source keys are the fact's.
        source_system: str
        external_id: str

    def __init__(
        self, indicator: str, manager_id: str, period: str, measured_on: date, value: Decimal,
        ruleset_version: str, source_system: str, external_id: str,
    ) -> None:
        # Body of the Reported event: assigns only, because it re-runs on every replay.
        self.indicator = indicator
        self.manager_id = manager_id
        self.period = period
        self.measured_on = measured_on
        self.value = value
        self.ruleset_version = ruleset_version
        self.source_system = source_system
        self.external_id = external_id

    @classmethod
    def report(
        cls, *, indicator: str, manager_id: str, period: str, measured_on: date, value: Decimal,
        source_system: str, external_id: str, scorecard: Scorecard, ruleset_version: str,
    ) -> IndicatorReport:
        """Reports a raw indicator the rule set in force for the period declares."""
        errors = FieldErrors()
        errors.identifier("indicator", indicator)
        errors.identifier("manager_id", manager_id)
        quarter = errors.period("period", period)
        errors.day("measured_on", measured_on)
        _check_value(errors, value)
        errors.identifier("source_system", source_system)
        errors.identifier("external_id", external_id)
        errors.raise_if_any()
        check(OnlyDeclaredRawIndicatorsAreReported(indicator, ruleset_version,
                                                  frozenset(scorecard.raw_indicators())),
              MeasurementsBelongToTheirPeriod(Quarter.parse(quarter), measured_on))
        return cls._create(
            cls.Reported, id=indicator_report_id(source_system, external_id),
            indicator=indicator, manager_id=manager_id, period=quarter, measured_on=measured_on,
            value=value, ruleset_version=ruleset_version, source_system=source_system,
            external_id=external_id,
        )


def _check_value(errors: FieldErrors, value: object) -> None:
    # Ratios such as 0.015 need more places than money, so this is not `errors.money`.
    if not isinstance(value, Decimal) or not value.is_finite():
        errors.add("value", "must be a decimal number (not a float)")
        return
    exponent = value.as_tuple().exponent
    if abs(value) >= MAX_VALUE:
        errors.add("value", f"must be smaller than {MAX_VALUE:,f}")
    elif isinstance(exponent, int) and -exponent > MAX_PLACES:
        errors.add("value", f"must have at most {MAX_PLACES} decimal places")
