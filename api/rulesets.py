"""Rule sets: drafted and published by operators, readable by everyone (§3.7)."""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from typing import Any

import marshmallow as ma

from api.common import CommandSchema, Day, LedgerBlueprint, ledger, with_receipt
from ledger.application import Made
from ledger.errors import InvalidInput
from ledger.rulebook import RuleBook
from ledger.store import IdempotencyRecord
from persistence.tokens import ROLES

blp = LedgerBlueprint("rulesets", __name__, description="Versioned rule sets")


class RulesetIn(ma.Schema):
    version = ma.fields.String(required=True, validate=ma.validate.Length(1, 64))
    effective_from = Day(required=True)
    content = ma.fields.Dict(keys=ma.fields.String(), required=True,
                             metadata={"description": "the rule-set document (§3.7)"})


class RulesetFields(ma.Schema):
    version = ma.fields.String(required=True)
    effective_from = Day(required=True)
    published = ma.fields.Boolean(required=True)


class RulesetOut(RulesetFields, CommandSchema):
    content = ma.fields.Dict(keys=ma.fields.String(), required=True)


class RulesetDetailOut(RulesetFields):
    content = ma.fields.Dict(keys=ma.fields.String(), required=True)


class RulesetListOut(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(RulesetFields), required=True)


def ruleset_view(book: RuleBook, version: str, *, content: bool = True) -> dict[str, Any]:
    view: dict[str, Any] = {"version": version, "effective_from": book.effective_from_of(version),
                            "published": book.is_published(version)}
    if content:
        view["content"] = book.content_of(version)
    return view


def drafted_reply(made: Made[RuleBook], body: dict[str, Any]) -> dict[str, Any]:
    return with_receipt(ruleset_view(made.value, body["version"]), made.receipt)


def published_reply(made: Made[RuleBook], version: str) -> dict[str, Any]:
    return with_receipt(ruleset_view(made.value, version), made.receipt)


def document(body: dict[str, Any]) -> dict[str, Any]:
    """The §3.7 document: the content, with the version and date the envelope names."""
    merged = {**body["content"], "version": body["version"],
              "effective_from": body["effective_from"].isoformat()}
    clashes = {key: [f"differs from the content's {key}"]
               for key in ("version", "effective_from")
               if key in body["content"] and body["content"][key] != merged[key]}
    if clashes:
        raise InvalidInput(clashes)
    return merged


@blp.route("/rulesets", methods=["GET"])
@blp.allow(*ROLES)
@blp.response(200, RulesetListOut)
def list_rulesets() -> dict[str, Any]:
    """Every rule-set version, drafted or published, in drafting order"""
    book = ledger().rulebook()
    return {"items": [ruleset_view(book, v, content=False) for v in book.versions()]}


@blp.route("/rulesets", methods=["POST"])
@blp.allow("operator")
@blp.arguments(RulesetIn)
@blp.command(201, RulesetOut, drafted_reply)
def draft(body: dict[str, Any], idempotency: IdempotencyRecord | None) -> Made[RuleBook]:
    """Draft a new rule-set version; an invalid document is refused with every problem"""
    return ledger().draft_ruleset(document(body), idempotency=idempotency)


@blp.route("/rulesets/<version>", methods=["GET"])
@blp.allow(*ROLES)
@blp.response(200, RulesetDetailOut)
def get_ruleset(version: str) -> dict[str, Any]:
    """One rule-set version and its document"""
    return ruleset_view(ledger().rulebook(), version)


@blp.route("/rulesets/<version>/publish", methods=["POST"])
@blp.allow("operator")
@blp.command(200, RulesetOut, published_reply)
def publish(version: str, idempotency: IdempotencyRecord | None) -> Made[RuleBook]:
    """Publish a drafted version; from then on it is immutable"""
    return ledger().publish_ruleset(version, idempotency=idempotency)
