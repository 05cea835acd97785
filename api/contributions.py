"""Contributions: integrators' postings, one at a time or in batches, safely retried.

A posting is identified by its source keys (source_system, external_id). Posting the same
keys again appends nothing: "duplicate" when the values match what is stored, "conflict"
(409 for a single posting) when they do not. A batch answers item by item.
"""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from typing import Any
from uuid import UUID

import marshmallow as ma

from api.common import (
    BatchItems,
    CommandSchema,
    Day,
    Instant,
    LedgerBlueprint,
    Money,
    identifier,
    ledger,
    with_receipt,
)
from api.plain_items import PlainItems
from ledger.application import ItemOutcome, Made
from ledger.contribution import Contribution
from ledger.errors import InvalidInput
from ledger.store import IdempotencyRecord

blp = LedgerBlueprint("contributions", __name__, description="Contributions (效益) postings")

MAX_BATCH = 1000


class ContributionIn(ma.Schema):
    customer_id = identifier(required=True)
    booked_on = Day(required=True)
    interest_income = Money(required=True)
    deposit_earnings = Money(required=True)
    fee_income = Money(required=True)
    risk_cost = Money(metadata={"description": "default 0"})
    source_system = identifier(required=True)
    external_id = identifier(required=True)


class PostingItems(BatchItems):
    """A batch's postings: each well-formed one read plainly (api/plain_items.py), any other
    through ContributionIn, whose errors name its fields."""

    plain = PlainItems(ContributionIn)

    def _item(self, item: Any) -> dict[str, Any] | InvalidInput:
        loaded = self.plain.read(item)
        return super()._item(item) if loaded is None else loaded


class BatchIn(ma.Schema):
    items = PostingItems(ContributionIn, max_items=MAX_BATCH)


class ContributionOut(CommandSchema):
    id = ma.fields.UUID(required=True)
    result = ma.fields.String(required=True, validate=ma.validate.OneOf(["created", "duplicate"]))
    customer_id = ma.fields.String(required=True)
    booked_on = Day(required=True)
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


class ItemViews(ma.fields.List[Any]):
    """The items of a batch's answer, which `_item_view` builds already as JSON values (ints,
    strings, lists of strings), so they are dumped as they are: through ItemOut, once per item,
    they cost 0.5 ms of a batch of 100. ItemOut still documents them."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else list(value)


class BatchOut(ma.Schema):
    items = ItemViews(ma.fields.Nested(ItemOut), required=True)
    counts = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)
    recorded_at = Instant(allow_none=True, required=True)


def posting_reply(made: Made[Contribution], *_: Any, **__: Any) -> dict[str, Any]:
    posting = made.value
    return with_receipt({"id": posting.id, "result": made.result, **{
        name: getattr(posting, name) for name in (
            "customer_id", "booked_on", "interest_income", "deposit_earnings", "fee_income",
            "risk_cost", "source_system", "external_id")}}, made.receipt)


@blp.route("/contributions", methods=["POST"])
@blp.allow("integrator")
@blp.arguments(ContributionIn)
@blp.command(201, ContributionOut, posting_reply)
@blp.alt_response(200, schema=ContributionOut, description="Already recorded (a duplicate)")
def post_contribution(
    body: dict[str, Any], idempotency: IdempotencyRecord | None
) -> Made[Contribution]:
    """Post one contribution"""
    return ledger().post_contribution(**body, idempotency=idempotency)


def batch_reply(made: Made[list[ItemOutcome]], *_: Any, **__: Any) -> dict[str, Any]:
    outcomes = made.value
    positions = {e.originator_id: e.position for e in made.receipt.events}
    counts = {s: sum(o.status == s for o in outcomes)
              for s in ("created", "duplicate", "conflict", "invalid")}
    # `events` is not in BatchOut: it tells the Ledger-Position header (api/consistency.py)
    # the batch's own last position, which it otherwise reads from the log (a round trip).
    return {"items": [_item_view(o, positions) for o in outcomes], "counts": counts,
            "recorded_at": made.receipt.recorded_at, "events": made.receipt.events}


@blp.route("/contributions/batch", methods=["POST"])
@blp.allow("integrator")
@blp.arguments(BatchIn)
@blp.command(200, BatchOut, batch_reply)
def post_batch(
    body: dict[str, Any], idempotency: IdempotencyRecord | None
) -> Made[list[ItemOutcome]]:
    """Post up to 1000 contributions; each item is answered on its own"""
    return ledger().post_contributions(body["items"], idempotency=idempotency)


def _item_view(outcome: ItemOutcome, positions: dict[UUID, int]) -> dict[str, Any]:
    """One item of the answer as ItemOut dumps it (its fields' order, the id as text)."""
    view: dict[str, Any] = {"index": outcome.index, "status": outcome.status}
    if outcome.contribution_id is not None:
        view["event_id"] = str(outcome.contribution_id)
    if outcome.status == "created" and outcome.contribution_id is not None:
        view["position"] = positions[outcome.contribution_id]
    if outcome.errors:
        view["errors"] = outcome.errors
    return view
