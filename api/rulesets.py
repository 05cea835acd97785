"""Rule sets: drafted and published by operators, readable by everyone (§3.7)."""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response

from api.common import CommandSchema, LedgerBlueprint, answer, ledger, run_command
from api.tokens import ROLES
from ledger.errors import InvalidInput
from ledger.rulebook import RuleBook

blp = LedgerBlueprint("rulesets", __name__, description="Versioned rule sets")


class RulesetIn(ma.Schema):
    version = ma.fields.String(required=True, validate=ma.validate.Length(1, 64))
    effective_from = ma.fields.Date(required=True)
    content = ma.fields.Dict(keys=ma.fields.String(), required=True,
                             metadata={"description": "the rule-set document (§3.7)"})


class RulesetFields(ma.Schema):
    version = ma.fields.String(required=True)
    effective_from = ma.fields.Date(required=True)
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


def of_version(version: str) -> Any:
    return lambda aggregates: ruleset_view(aggregates[0], version)


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
@blp.command()
@blp.arguments(RulesetIn)
@blp.response(201, RulesetOut)
def draft(body: dict[str, Any]) -> Response:
    """Draft a new rule-set version; an invalid document is refused with every problem"""
    doc = document(body)
    return run_command(lambda app: app.draft_ruleset(doc),
                       answer(201, RulesetOut, of_version(body["version"])))


@blp.route("/rulesets/<version>", methods=["GET"])
@blp.allow(*ROLES)
@blp.response(200, RulesetDetailOut)
def get_ruleset(version: str) -> dict[str, Any]:
    """One rule-set version and its document"""
    return ruleset_view(ledger().rulebook(), version)


@blp.route("/rulesets/<version>/publish", methods=["POST"])
@blp.allow("operator")
@blp.command()
@blp.response(200, RulesetOut)
def publish(version: str) -> Response:
    """Publish a drafted version; from then on it is immutable"""
    return run_command(lambda app: app.publish_ruleset(version),
                       answer(200, RulesetOut, of_version(version)))
