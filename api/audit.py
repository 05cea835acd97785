"""The auditor's view of the log: every event in order, the chain's verification (its seals
and signed heads too), and, on request, the read models checked against a replay of the log."""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

import os
from typing import Any

import marshmallow as ma
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import TopicError

from api.common import Day, Instant, LedgerBlueprint, ledger
from api.pagination import Page
from persistence.head import audit
from persistence.records import LogRow
from persistence.seal import keyring_from_environment
from persistence.verify import event_log
from projections.replay_check import Difference, check_views

blp = LedgerBlueprint("audit", __name__, description="The event log and its integrity")

MAX_PAGE = 1000
MAX_POSITION = 2**63 - 1  # positions are 64-bit integers in both databases


class LogArgs(ma.Schema):
    after = ma.fields.Integer(load_default=0, validate=ma.validate.Range(0, MAX_POSITION),
                              metadata={"description": "a log position; 0 = from the start"})
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, MAX_PAGE))


class LogItemOut(ma.Schema):
    position = ma.fields.Integer(required=True)
    originator_id = ma.fields.String(required=True)
    version = ma.fields.Integer(required=True)
    type = ma.fields.String(required=True)
    topic = ma.fields.String(required=True)
    effective_on = Day(allow_none=True, required=True)
    recorded_at = Instant(required=True)
    actor = ma.fields.String(allow_none=True, required=True)
    role = ma.fields.String(allow_none=True, required=True)
    request_id = ma.fields.String(allow_none=True, required=True)
    source_system = ma.fields.String(allow_none=True, required=True)
    external_id = ma.fields.String(allow_none=True, required=True)
    link = ma.fields.String(allow_none=True, required=True, metadata={"description": "hex"})
    readable = ma.fields.Boolean(required=True,
                                 metadata={"description": "false: the state does not decode"})


class LogOut(Page):
    items = ma.fields.List(ma.fields.Nested(LogItemOut), required=True)
    next_after = ma.fields.Integer(allow_none=True, required=True,
                                   metadata={"description": "null when this page is the last"})


class ProblemOut(ma.Schema):
    position = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True)
    detail = ma.fields.String(required=True)


class VerifyArgs(ma.Schema):
    views = ma.fields.Boolean(load_default=False, metadata={
        "description": "also replay the log into a scratch copy of the read models and "
                       "compare them row by row"})


class DifferenceOut(ma.Schema):
    table = ma.fields.String(required=True)
    key = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), required=True)
    column = ma.fields.String(allow_none=True, required=True,
                              metadata={"description": "null: the whole row is missing"})
    stored = ma.fields.String(allow_none=True, required=True)
    replayed = ma.fields.String(allow_none=True, required=True)
    detail = ma.fields.String(required=True)


class ViewsOut(ma.Schema):
    ok = ma.fields.Boolean(required=True)
    compared = ma.fields.Integer(required=True, metadata={"description": "stored rows"})
    differences = ma.fields.List(ma.fields.Nested(DifferenceOut), required=True)


class VerifyOut(ma.Schema):
    ok = ma.fields.Boolean(required=True)
    checked = ma.fields.Integer(required=True)
    head_position = ma.fields.Integer(required=True)
    head_link = ma.fields.String(required=True)
    head_recorded_at = Instant(allow_none=True, required=True)
    first_bad = ma.fields.Nested(ProblemOut, allow_none=True, required=True)
    problems = ma.fields.List(ma.fields.Nested(ProblemOut), required=True,
                              metadata={"description": "every bad position, in log order"})
    keyed = ma.fields.Boolean(required=True, metadata={
        "description": "true: the seals were checked with the chain key"})
    key_in_force = ma.fields.String(allow_none=True, required=True)
    views = ma.fields.Nested(ViewsOut, allow_none=True, required=True,
                             metadata={"description": "null unless views=true"})


AUDIT_FIELDS = ("actor", "role", "request_id", "source_system", "external_id", "effective_on")


def log_item(app: Any, row: LogRow) -> dict[str, Any]:
    item: dict[str, Any] = {
        "position": row.position, "originator_id": str(row.originator_id),
        "version": row.originator_version, "topic": row.topic,
        "type": row.topic.split(":", 1)[-1], "recorded_at": row.recorded_at,
        "link": row.link.hex() if row.link is not None else None,
    }
    stored = StoredEvent(originator_id=row.originator_id, originator_version=row.originator_version,
                         topic=row.topic, state=row.state)
    try:
        event = app.mapper.to_domain_event(stored)
    except (ValueError, TypeError, KeyError, TopicError):
        # A state that does not decode is itself evidence: shown, not hidden.
        return {**item, **dict.fromkeys(AUDIT_FIELDS), "readable": False}
    return {**item, **{k: getattr(event, k, None) for k in AUDIT_FIELDS}, "readable": True}


@blp.route("/audit/events", methods=["GET"])
@blp.allow("auditor")
@blp.arguments(LogArgs, location="query")
@blp.response(200, LogOut)
def events(args: dict[str, Any]) -> dict[str, Any]:
    """The global log in order, after a position"""
    app = ledger()
    rows = event_log(app.recorder).select_log(args["after"], args["limit"])
    full = len(rows) == args["limit"]
    return {"items": [log_item(app, r) for r in rows],
            "next_after": rows[-1].position if full else None}


@blp.route("/audit/verify", methods=["GET"])
@blp.allow("auditor")
@blp.arguments(VerifyArgs, location="query")
@blp.response(200, VerifyOut)
def verify(args: dict[str, Any]) -> Any:
    """Recompute the chain and its seals, compare it with the signed heads; name every bad
    position, the first one first; with views=true, check the read models by replay"""
    app = ledger()
    result = audit(event_log(app.recorder), keyring=keyring_from_environment(),
                   trusted_public_key=os.environ.get("LEDGER_HEAD_PUBLIC_KEY") or None)
    views = None
    if args["views"]:
        differences, compared = check_views(app)
        views = {"ok": not differences, "compared": compared,
                 "differences": [difference_item(d) for d in differences]}
    return {"ok": result.ok and (views is None or views["ok"]), "checked": result.checked,
            "head_position": result.head_position, "head_link": result.head_link.hex(),
            "head_recorded_at": result.head_recorded_at, "first_bad": result.first_bad,
            "problems": list(result.problems), "keyed": result.keyed,
            "key_in_force": result.key_in_force, "views": views}


def difference_item(difference: Difference) -> dict[str, Any]:
    def shown(value: Any) -> str | None:
        return None if value is None else str(value)

    return {"table": difference.table, "key": {k: str(v) for k, v in difference.key},
            "column": difference.column, "stored": shown(difference.stored),
            "replayed": shown(difference.replayed), "detail": difference.describe()}
