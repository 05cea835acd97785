"""Contributions: integrators' postings, one at a time or in batches, safely retried.

A posting is identified by its source keys (source_system, external_id). Posting the same
keys again appends nothing: "duplicate" when the values match what is stored, "conflict"
(409 for a single posting) when they do not. A batch answers item by item.
"""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import marshmallow as ma
from flask import Response

from api.common import (
    CommandSchema,
    Instant,
    LedgerBlueprint,
    Money,
    identifier,
    json_response,
    ledger,
    receipt_body,
    run_command,
    schema_of,
)
from api.errors import flatten_messages
from api.idempotency import Finish, Reply
from api.ledger_app import ItemOutcome, compare_postings
from ledger.application import Receipt
from ledger.contribution import Contribution
from ledger.errors import DuplicateFact, InvalidInput
from ledger.ids import contribution_id

blp = LedgerBlueprint("contributions", __name__, description="Contributions (效益) postings")

MAX_BATCH = 1000


class ContributionIn(ma.Schema):
    customer_id = identifier(required=True)
    booked_on = ma.fields.Date(required=True)
    interest_income = Money(required=True)
    deposit_earnings = Money(required=True)
    fee_income = Money(required=True)
    risk_cost = Money(metadata={"description": "default 0"})
    source_system = identifier(required=True)
    external_id = identifier(required=True)


class ItemsField(ma.fields.List[Any]):
    """A list whose items are loaded one by one: an invalid item is kept as its errors,
    so one bad posting does not refuse the batch."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        if not isinstance(value, list):
            raise self.make_error("invalid")
        return [self._item(item) for item in value]

    def _item(self, item: Any) -> dict[str, Any] | InvalidInput:
        try:
            loaded: dict[str, Any] = schema_of(ContributionIn).load(item)
        except ma.ValidationError as refused:
            return InvalidInput(flatten_messages(refused.messages))
        return loaded


class BatchIn(ma.Schema):
    items = ItemsField(ma.fields.Nested(ContributionIn), required=True,
                       validate=ma.validate.Length(1, MAX_BATCH))


class ContributionOut(CommandSchema):
    id = ma.fields.UUID(required=True)
    result = ma.fields.String(required=True, validate=ma.validate.OneOf(["created", "duplicate"]))
    customer_id = ma.fields.String(required=True)
    booked_on = ma.fields.Date(required=True)
    interest_income = Money(required=True)
    deposit_earnings = Money(required=True)
    fee_income = Money(required=True)
    risk_cost = Money(required=True)
    source_system = ma.fields.String(required=True)
    external_id = ma.fields.String(required=True)


class ItemOut(ma.Schema):
    index = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(
        ["created", "duplicate", "conflict", "invalid"]))
    event_id = ma.fields.UUID(metadata={"description": "the posting's id (its event's originator)"})
    position = ma.fields.Integer(metadata={"description": "log position, when created now"})
    errors = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()))


class BatchOut(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(ItemOut), required=True)
    counts = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)
    recorded_at = Instant(allow_none=True, required=True)


def posting_view(posting: Contribution, result: str) -> dict[str, Any]:
    return {"id": posting.id, "result": result, **{
        name: getattr(posting, name) for name in (
            "customer_id", "booked_on", "interest_income", "deposit_earnings", "fee_income",
            "risk_cost", "source_system", "external_id")}}


def created(aggregates: Sequence[Any], note: Any) -> Finish:
    resource = schema_of(ContributionOut).dump(posting_view(aggregates[0], "created"))
    return lambda receipt: Reply(201, {**resource, **receipt_body(receipt)})


@blp.route("/contributions", methods=["POST"])
@blp.allow("integrator")
@blp.command()
@blp.arguments(ContributionIn)
@blp.response(201, ContributionOut)
@blp.alt_response(200, schema=ContributionOut, description="Already recorded (a duplicate)")
def post_contribution(body: dict[str, Any]) -> Response:
    """Post one contribution"""
    try:
        return run_command(lambda app: app.post_contribution(**body), created)
    except DuplicateFact:
        return _repeated(body)


def _repeated(body: dict[str, Any]) -> Response:
    """The same source keys again: a duplicate (200, nothing appended) or a conflict (409)."""
    keys = f"{body['source_system']}/{body['external_id']}"
    stored = ledger().stored_posting(contribution_id(body["source_system"], body["external_id"]))
    if stored is None or compare_postings(stored, body) == "conflict":
        raise DuplicateFact(f"posting {keys} was already recorded with other values",
                            rule="PostingsAreIdentifiedByTheirSourceKeys")
    resource = posting_view(stored, "duplicate")
    body_out = {**schema_of(ContributionOut).dump(resource), **receipt_body(Receipt())}
    return json_response(body_out, 200)


@blp.route("/contributions/batch", methods=["POST"])
@blp.allow("integrator")
@blp.command()
@blp.arguments(BatchIn)
@blp.response(200, BatchOut)
def post_batch(body: dict[str, Any]) -> Response:
    """Post up to 1000 contributions; each item is answered on its own"""
    return run_command(lambda app: app.post_contributions(body["items"]), batch_reply)


def batch_reply(aggregates: Sequence[Any], outcomes: list[ItemOutcome]) -> Finish:
    def finish(receipt: Receipt) -> Reply:
        positions = {e.originator_id: e.position for e in receipt.events}
        items = [_item_view(o, positions) for o in outcomes]
        counts = {s: sum(o.status == s for o in outcomes)
                  for s in ("created", "duplicate", "conflict", "invalid")}
        return Reply(200, schema_of(BatchOut).dump(
            {"items": items, "counts": counts, "recorded_at": receipt.recorded_at}))

    return finish


def _item_view(outcome: ItemOutcome, positions: dict[Any, int]) -> dict[str, Any]:
    view: dict[str, Any] = {"index": outcome.index, "status": outcome.status}
    if outcome.contribution_id is not None:
        view["event_id"] = outcome.contribution_id
    if outcome.status == "created":
        view["position"] = positions[outcome.contribution_id]
    if outcome.errors:
        view["errors"] = outcome.errors
    return view
