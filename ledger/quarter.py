"""Assessment periods: calendar quarters written like `2026Q1`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from ledger.errors import InvalidInput

_PATTERN = re.compile(r"(\d{4})Q([1-4])")

# A sanity bound, not business data: a year outside it is a typing mistake.
_YEARS = range(1900, 3000)


@dataclass(frozen=True, order=True)
class Quarter:
    """One calendar quarter. Ordered by time, so periods sort and compare naturally."""

    year: int
    quarter: int

    def __post_init__(self) -> None:
        # Guards direct construction too, so no code path holds a "2026Q5".
        if self.quarter not in (1, 2, 3, 4) or self.year not in _YEARS:
            raise InvalidInput({"period": [f"no such quarter: {self.year}Q{self.quarter}"]})

    @classmethod
    def parse(cls, text: object, *, field: str = "period") -> Quarter:
        """Reads `2026Q1`; anything else is refused as invalid input on `field`."""
        match = _PATTERN.fullmatch(text) if isinstance(text, str) else None
        if match is None or int(match.group(1)) not in _YEARS:
            raise InvalidInput({field: [f"must be a quarter like 2026Q1, not {text!r}"]})
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: date) -> Quarter:
        """The quarter that contains `day`."""
        return cls(day.year, (day.month - 1) // 3 + 1)

    @property
    def first_day(self) -> date:
        return date(self.year, 3 * self.quarter - 2, 1)

    @property
    def last_day(self) -> date:
        if self.quarter == 4:
            return date(self.year, 12, 31)
        return date(self.year, 3 * self.quarter + 1, 1) - timedelta(days=1)

    @property
    def days(self) -> int:
        """How many days the quarter has (90 to 92)."""
        return (self.last_day - self.first_day).days + 1

    def contains(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day

    def next(self) -> Quarter:
        if self.quarter == 4:
            return Quarter(self.year + 1, 1)
        return Quarter(self.year, self.quarter + 1)

    def previous(self) -> Quarter:
        if self.quarter == 1:
            return Quarter(self.year - 1, 4)
        return Quarter(self.year, self.quarter - 1)

    def __str__(self) -> str:
        return f"{self.year}Q{self.quarter}"
