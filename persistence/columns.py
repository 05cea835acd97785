"""Column types the read models and the support tables share: exact money and instants."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Numeric, Text
from sqlalchemy.types import TypeDecorator, TypeEngine

from persistence.records import from_micros, to_micros


class Money(TypeDecorator[Decimal]):
    """NUMERIC on PostgreSQL; on SQLite the decimal's exact text, never a float."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(asdecimal=True))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        if not isinstance(value, Decimal):
            raise TypeError(f"money must be a Decimal, not {type(value).__name__}")
        return format(value, "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class Instant(TypeDecorator[datetime]):
    """A recording time: timestamptz on PostgreSQL, epoch microseconds on SQLite (0001)."""

    impl = BigInteger
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(DateTime(timezone=True))
        return dialect.type_descriptor(BigInteger())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return to_micros(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value
        return from_micros(int(value))


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class StoredText(TypeDecorator[str]):
    """Text a read model can always store, whatever an old event holds.

    PostgreSQL's text cannot hold NUL and UTF-8 cannot encode a lone surrogate; input checks
    refuse both today, but an event recorded before them may carry one, and one unstorable
    value would stop its whole batch of facts - and so every figure - from being written.
    Such characters are stored as U+FFFD instead; the event itself keeps the original.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or (value.isascii() and "\x00" not in value):
            return value
        return _UNSTORABLE.sub("\ufffd", value)
