"""The reassignment queue (DESIGN §16): per manager disqualified on a day, the customers
they still hold, for a supervisor to move; paged by a cursor like the master-data lists."""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from typing import Any

import marshmallow as ma

from api.common import Day, LedgerBlueprint, identifier, ledger
from api.pagination import Page
from api.scores_and_pay import read_side
from projections.master_data import MAX_PAGE, reassignment_queue

blp = LedgerBlueprint("reassignments", __name__,
                      description="Customers of disqualified managers, to reassign")


class ReassignmentQueueArgs(ma.Schema):
    on = Day(metadata={"description": "the day (default: today)"})
    after = identifier(metadata={"description": "cursor: the next_after of the page before"})
    limit = ma.fields.Integer(load_default=MAX_PAGE, validate=ma.validate.Range(1, MAX_PAGE))


class HeldSchema(ma.Schema):
    customer_id = ma.fields.String(required=True)
    held_from = Day(required=True)


class ToReassignSchema(ma.Schema):
    manager_id = ma.fields.String(required=True)
    disqualified_since = Day(required=True)
    customers = ma.fields.List(ma.fields.Nested(HeldSchema), required=True)
    truncated = ma.fields.Boolean(required=True,
                                  metadata={"description": "more customers than listed"})


class ReassignmentQueueOut(Page):
    on = Day(required=True)
    items = ma.fields.List(ma.fields.Nested(ToReassignSchema), required=True)
    next_after = ma.fields.String(allow_none=True, required=True,
                                  metadata={"description": "cursor of the next page, if any"})


@blp.route("/reassignments", methods=["GET"])
@blp.allow("supervisor", "approver", "auditor")
@blp.arguments(ReassignmentQueueArgs, location="query")
@blp.response(200, ReassignmentQueueOut)
def list_reassignments(args: dict[str, Any]) -> dict[str, Any]:
    """Managers disqualified on a day who still hold customers, with those customers"""
    on = args.get("on") or ledger().today()
    page = reassignment_queue(read_side(), on=on, after=args.get("after"),
                              limit=args["limit"])
    return {"on": on, "items": page.items, "next_after": page.next_after}
