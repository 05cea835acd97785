"""What every resource blueprint shares: the blueprint, its JSON parser, fields and replies."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

import marshmallow as ma
from flask import Request, Response, current_app, request
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Blueprint  # type: ignore[import-untyped]
from webargs import core
from webargs.flaskparser import FlaskParser, abort, is_json_request

from api.auth import allow
from api.consistency import positioned
from api.errors import flatten_messages, problem
from api.idempotency import HEADER, LEDGER, Reply, idempotent
from api.input_bounds import PoisonedInput, parse_json, unstorable_texts
from ledger.application import LedgerApplication, Receipt
from ledger.errors import InvalidInput
from ledger.rules import YEAR_RANGE, unstorable_text, year_in_range

CENT = Decimal("0.01")
MONEY_PATTERN = r"^-?[0-9]{1,15}(\.[0-9]{1,2})?$"
_MONEY = re.compile(MONEY_PATTERN)


class LedgerParser(FlaskParser):
    """Reads JSON within api.input_bounds: numbers as Decimal (money is never a float), no
    NaN/Infinity, bounded depth, and no text that cannot be stored (422 naming the field)."""

    def _raw_load_json(self, req: Request) -> Any:
        data = req.get_data(cache=True)
        if not is_json_request(req):
            if data:
                abort(415, messages={"body": ["send JSON with Content-Type application/json"]})
            return core.missing
        try:
            body = parse_json(data)
        except PoisonedInput as refused:
            abort(400, messages={"body": [str(refused)]})
        unstorable = dict(unstorable_texts(body))
        if unstorable:
            abort(422, messages={"json": {path: [why] for path, why in unstorable.items()}})
        return body


def refuse_unstorable_parameters() -> Response | None:
    """Path and query parameters obey the same text rules as bodies (before any route)."""
    parameters = [*((f"path.{k}", v) for k, v in (request.view_args or {}).items()),
                  *((f"query.{k}", v) for k, v in request.args.items(multi=True)),
                  *((f"query.{k}", k) for k in request.args)]
    errors = {name: [why] for name, value in parameters
              if isinstance(value, str) and (why := unstorable_text(value)) is not None}
    if not errors:
        return None
    detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items())
    return problem(422, detail, slug="invalid-input", title="Invalid input", errors=errors)


class LedgerBlueprint(Blueprint):  # type: ignore[misc]  # flask-smorest ships no type hints
    """A resource's blueprint: JSON parsing as above, and `allow(*roles)` on each route."""

    ARGUMENTS_PARSER = LedgerParser()

    def allow(self, *roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Only these roles may call the route (DESIGN §9); documents them, and the 401 and
        403 (api/errors.py DOCUMENTED_PROBLEMS) every such route can answer."""
        guarded = allow(self, roles)
        unauthenticated = self.alt_response(401, "Unauthenticated")
        wrong_role = self.alt_response(403, "WrongRole")

        def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
            documented: Callable[..., Any] = unauthenticated(wrong_role(guarded(view)))
            return documented

        return decorator

    def arguments(self, schema: type[ma.Schema] | ma.Schema, **kwargs: Any) -> Any:
        """flask-smorest's `arguments`, parsing with one schema instance per class: given a
        class, webargs builds an instance per request (fields deep-copied), 9% of a
        deduction's worker time under py-spy (issue 18)."""
        return super().arguments(schema_of(schema) if isinstance(schema, type) else schema,
                                 **kwargs)

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
        refused = self.alt_response(409, "Refused")  # rules, concurrent change, key reused

        def decorator(route: Callable[..., Any]) -> Callable[..., Any]:
            wrapped: Callable[..., Any] = refused(responds(documented(
                positioned(idempotent(status, reply)(route)))))
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


class Day(ma.fields.Date):
    """A business date (YYYY-MM-DD) within the years the ledger reckons with."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        day = super()._deserialize(value, attr, data, **kwargs)
        if not year_in_range(day):
            raise ma.ValidationError(YEAR_RANGE)
        return day


class Instant(ma.fields.AwareDateTime):
    """An RFC 3339 instant with its offset; written back in UTC with a `Z`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="iso", **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        # Checked before converting: year 1 at +14:00 has no UTC instant to convert to.
        if not year_in_range(moment):
            raise ma.ValidationError(YEAR_RANGE)
        return moment.astimezone(UTC)

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


class BatchItems(ma.fields.List[Any]):
    """A batch's `items`, loaded one by one with the item schema: an invalid item is kept as
    its errors (an InvalidInput), so one bad item does not refuse the batch."""

    def __init__(self, item_schema: type[ma.Schema], *, max_items: int, **kwargs: Any) -> None:
        super().__init__(ma.fields.Nested(item_schema), required=True,
                         validate=ma.validate.Length(1, max_items), **kwargs)
        self.item_schema = item_schema

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        if not isinstance(value, list):
            raise self.make_error("invalid")
        return [self._item(item) for item in value]

    def _item(self, item: Any) -> dict[str, Any] | InvalidInput:
        try:
            loaded: dict[str, Any] = schema_of(self.item_schema).load(item)
        except ma.ValidationError as refused:
            return InvalidInput(flatten_messages(refused.messages))
        return loaded


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
