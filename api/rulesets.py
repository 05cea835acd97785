"""Rule sets: drafted and published by operators, readable by everyone (§3.7)."""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from typing import Any

import marshmallow as ma

from api.common import CommandSchema, Day, LedgerBlueprint, ledger, with_receipt
from api.pagination import Page, after_cursor, cursor_args, page_in_order
from ledger.application import Made
from ledger.errors import InvalidInput
from ledger.rulebook import RuleBook
from ledger.ruleset_schema import SCHEMA_NAME
from ledger.store import IdempotencyRecord
from persistence.tokens import ROLES
from projections.materialised import MAX_DIFF_KEYS
from projections.rule_diff import diff_against_live, key_answer

blp = LedgerBlueprint("rulesets", __name__, description="Versioned rule sets")


DOCUMENT = {"allOf": [{"$ref": f"#/components/schemas/{SCHEMA_NAME}"}]}
"""The rule-set document's JSON Schema (ledger/ruleset_schema.py), for the reference."""


class RulesetIn(ma.Schema):
    version = ma.fields.String(required=True, validate=ma.validate.Length(1, 64))
    effective_from = Day(required=True)
    content = ma.fields.Dict(keys=ma.fields.String(), required=True,
                             metadata={"description": "the rule-set document (§3.7)", **DOCUMENT})


class RulesetFields(ma.Schema):
    version = ma.fields.String(required=True)
    effective_from = Day(required=True)
    published = ma.fields.Boolean(required=True)


class RulesetOut(RulesetFields, CommandSchema):
    content = ma.fields.Dict(keys=ma.fields.String(), required=True, metadata=DOCUMENT)


class RulesetDetailOut(RulesetFields):
    content = ma.fields.Dict(keys=ma.fields.String(), required=True, metadata=DOCUMENT)


MAX_RULESETS = 100
"""The most rule-set versions one page lists."""

RulesetListArgs = cursor_args(ma.Schema, after_cursor(
    "cursor: the next_after (a version) of the page before"), MAX_RULESETS)


class RulesetListOut(Page):
    items = ma.fields.List(ma.fields.Nested(RulesetFields), required=True)
    next_after = ma.fields.String(allow_none=True, required=True, metadata={
        "description": "cursor of the next page (the last version shown), if any"})


class DiffArgs(ma.Schema):
    against = ma.fields.String(required=True, validate=ma.validate.OneOf(["live"]),
                               metadata={"description": "live: the rule set in force per period"})
    limit = ma.fields.Integer(load_default=MAX_DIFF_KEYS,
                              validate=ma.validate.Range(1, MAX_DIFF_KEYS))
    after = after_cursor("cursor: the next_after (manager_id/period) of the page before")
    position = ma.fields.Integer(validate=ma.validate.Range(min=0), metadata={
        "description": "the log position to compare at (default: the head); a next link "
                       "names the one its first page was computed at"})


class DiffCauseOut(ma.Schema):
    parameter = ma.fields.String(required=True)
    before = ma.fields.Raw(allow_none=True, required=True)
    after = ma.fields.Raw(allow_none=True, required=True)


class FigureDiffOut(ma.Schema):
    figure = ma.fields.String(required=True)
    before = ma.fields.Raw(allow_none=True, required=True)
    after = ma.fields.Raw(allow_none=True, required=True)
    delta = ma.fields.Raw(allow_none=True, required=True)
    causes = ma.fields.List(ma.fields.Nested(DiffCauseOut), required=True, metadata={
        "description": "only the parameters whose revert moves this figure"})


class KeyDiffOut(ma.Schema):
    manager_id = ma.fields.String(required=True)
    period = ma.fields.String(required=True)
    ruleset_before = ma.fields.String(allow_none=True, required=True)
    ruleset_after = ma.fields.String(allow_none=True, required=True)
    figures = ma.fields.List(ma.fields.Nested(FigureDiffOut), required=True)
    events = ma.fields.List(ma.fields.Dict(keys=ma.fields.String()), required=True, metadata={
        "description": "only the events whose effect differs under the two rule sets"})
    more_events = ma.fields.Integer(required=True)


class DiffOut(Page):
    PINNED = ("position",)
    version = ma.fields.String(required=True)
    against = ma.fields.String(required=True)
    position = ma.fields.Integer(required=True, metadata={"description": "the log position "
                                                          "both sides were computed at"})
    items = ma.fields.List(ma.fields.Nested(KeyDiffOut), required=True, metadata={
        "description": "managers none of whose figures moved are left out"})
    next_after = ma.fields.String(allow_none=True, required=True, metadata={
        "description": "cursor of the next page (manager_id/period of the last), if any"})


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
@blp.arguments(RulesetListArgs, location="query")
@blp.response(200, RulesetListOut)
def list_rulesets(args: dict[str, Any]) -> dict[str, Any]:
    """Every rule-set version, drafted or published, in drafting order"""
    book = ledger().rulebook()
    # Drafting order only grows at its end: the version before is a stable cursor.
    versions, next_after = page_in_order(book.versions(), str, args.get("after"),
                                         args["limit"])
    return {"items": [ruleset_view(book, v, content=False) for v in versions],
            "next_after": next_after}


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


@blp.route("/rulesets/<version>/diff", methods=["GET"])
@blp.allow("operator", "auditor")
@blp.arguments(DiffArgs, location="query")
@blp.response(200, DiffOut)
def diff(args: dict[str, Any], version: str) -> dict[str, Any]:
    """Per manager and figure: live, under this version, delta, and only the causes that
    moved it (the same code as `ledger rulesets diff`)"""
    from api.scores_and_pay import read_side  # noqa: PLC0415 - scores_and_pay is heavier

    side = read_side()
    head = side.catch_up(side.catch_up_timeout)
    position = args.get("position", head)
    if position > head:
        raise InvalidInput({"position": [f"beyond the log's head ({head})"]})
    limit = args["limit"]
    # One key more than asked says whether a next page exists.
    keys = diff_against_live(side.engine, version, position, limit + 1, _key_cursor(args))
    shown = [key_answer(k) for k in keys[:limit]]
    last = shown[-1] if len(keys) > limit else None
    return {"version": version, "against": args["against"], "position": position,
            "items": shown,
            "next_after": f"{last['manager_id']}/{last['period']}" if last else None}


def _key_cursor(args: dict[str, Any]) -> tuple[str, str] | None:
    after: str | None = args.get("after")
    if after is None:
        return None
    # A period (2026Q1) holds no "/": the last one separates it from the manager id.
    manager_id, slash, period = after.rpartition("/")
    if not slash:
        raise InvalidInput({"after": ["must be manager_id/period"]})
    return (manager_id, period)
