"""What every resource blueprint shares: the blueprint, its JSON parser, fields and replies."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

import marshmallow as ma
from flask import Request, Response, current_app
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Blueprint  # type: ignore[import-untyped]
from webargs import core
from webargs.flaskparser import FlaskParser, abort, is_json_request

from api.auth import allow
from api.idempotency import HEADER, LEDGER, Reply, idempotent
from ledger.application import LedgerApplication, Receipt

CENT = Decimal("0.01")
MONEY_PATTERN = r"^-?[0-9]{1,15}(\.[0-9]{1,2})?$"
_MONEY = re.compile(MONEY_PATTERN)


class LedgerParser(FlaskParser):
    """Reads JSON numbers as Decimal (money is never a float) and refuses NaN/Infinity."""

    def _raw_load_json(self, req: Request) -> Any:
        data = req.get_data(cache=True)
        if not is_json_request(req):
            if data:
                abort(415, messages={"body": ["send JSON with Content-Type application/json"]})
            return core.missing
        return json.loads(data.decode("utf-8"), parse_float=Decimal, parse_constant=_no_constant)


def _no_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a number", name, 0)


class LedgerBlueprint(Blueprint):  # type: ignore[misc]  # flask-smorest ships no type hints
    """A resource's blueprint: JSON parsing as above, and `allow(*roles)` on each route."""

    ARGUMENTS_PARSER = LedgerParser()

    def allow(self, *roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Only these roles (and admin) may call the route; documents them too."""
        return allow(self, roles)

    def command(
        self, status: int, schema: type[ma.Schema], reply: Reply
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """A command route: idempotent under its Idempotency-Key (documented here), its
        result turned into the resource by `reply` and dumped with `schema`."""
        documented = self.doc(parameters=[{
            "in": "header", "name": HEADER, "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": 200},
            "description": "Same key and body: the first response again, nothing appended. "
                           "Same key, other body: 409.",
        }])
        responds = self.response(status, schema)

        def decorator(route: Callable[..., Any]) -> Callable[..., Any]:
            wrapped: Callable[..., Any] = responds(documented(idempotent(status, reply)(route)))
            return wrapped

        return decorator


# --- fields -------------------------------------------------------------------------------


class LedgerJSONProvider(DefaultJSONProvider):
    """Dates as YYYY-MM-DD and instants as RFC 3339 UTC (Flask's default is HTTP dates);
    Chinese names as they are, not escaped."""

    sort_keys = False
    ensure_ascii = False

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, datetime):
            return instant_text(o)
        if isinstance(o, date):
            return o.isoformat()
        if isinstance(o, (Decimal, UUID)):
            return str(o)
        return DefaultJSONProvider.default(o)


class Money(ma.fields.Field[Decimal]):
    """Money as a decimal string with at most two places ("32365.00"); JSON numbers are
    accepted when they are exact (whole, or decimals read as Decimal), never floats."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).setdefault("pattern", MONEY_PATTERN)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
            raise ma.ValidationError('must be a decimal string such as "1234.50"')
        text = str(value)
        if not _MONEY.fullmatch(text):
            raise ma.ValidationError('must be a decimal string such as "1234.50"')
        return Decimal(text)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else money_text(value)


def money_text(value: Decimal | int) -> str:
    return str(Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP))


class Instant(ma.fields.AwareDateTime):
    """An RFC 3339 instant with its offset; written back in UTC with a `Z`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        return super()._deserialize(value, attr, data, **kwargs).astimezone(UTC)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else instant_text(value)


def instant_text(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def identifier(**kwargs: Any) -> ma.fields.String:
    """A business id such as "M1"."""
    return ma.fields.String(validate=ma.validate.Length(1, 64), **kwargs)


def text(**kwargs: Any) -> ma.fields.String:
    return ma.fields.String(validate=ma.validate.Length(1, 4000), **kwargs)


def evidence() -> ma.fields.List[str]:
    return ma.fields.List(ma.fields.String(validate=ma.validate.Length(1, 500)),
                          validate=ma.validate.Length(max=50), load_default=list)


class EventRefSchema(ma.Schema):
    """One event a command appended."""

    position = ma.fields.Integer(required=True)
    type = ma.fields.String(required=True)
    originator_id = ma.fields.UUID(required=True)
    originator_version = ma.fields.Integer(required=True)
    recorded_at = Instant(required=True)


class CommandSchema(ma.Schema):
    """Every command's answer: the resource, and the events it appended."""

    events = ma.fields.List(ma.fields.Nested(EventRefSchema), required=True)
    recorded_at = Instant(allow_none=True, required=True)


def receipt_body(receipt: Receipt) -> dict[str, Any]:
    body: dict[str, Any] = schema_of(CommandSchema).dump(
        {"events": list(receipt.events), "recorded_at": receipt.recorded_at})
    return body


# --- replies ------------------------------------------------------------------------------


@functools.cache
def schema_of(cls: type[ma.Schema]) -> ma.Schema:
    """One instance per schema class: schemas hold no request state, and building one
    costs about as much as a database round trip."""
    return cls()


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON answer through the app's JSON provider (ISO dates, decimal strings)."""
    return current_app.response_class(current_app.json.dumps(body), status,
                                      mimetype="application/json")


def ledger() -> LedgerApplication:
    """The process's one ledger application (built by create_app)."""
    app: LedgerApplication = current_app.extensions[LEDGER]
    return app


def with_receipt(resource: dict[str, Any], receipt: Receipt) -> dict[str, Any]:
    """A command's answer: the resource, and the events its append recorded."""
    return {**resource, "events": list(receipt.events), "recorded_at": receipt.recorded_at}


def register_fields(api: Any) -> None:
    api.register_field(Money, "string", "decimal")
