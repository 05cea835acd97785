"""Customers: registration and (re)assignment to managers (DESIGN §9); reading them and
who held them on a day (§16)."""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from typing import Any

import marshmallow as ma

from api.auth import acting_manager_id, require_own
from api.common import (
    CommandSchema,
    Day,
    LedgerBlueprint,
    Money,
    identifier,
    ledger,
    text,
    with_receipt,
)
from api.pagination import Page
from api.scores_and_pay import read_side
from ledger.application import Made
from ledger.customer import CUSTOMER_CLASSES, Customer
from ledger.store import IdempotencyRecord
from projections.master_data import MAX_PAGE, customer_ids

blp = LedgerBlueprint("customers", __name__, description="Bank customers and who holds them")


class CustomerIn(ma.Schema):
    id = identifier(required=True)
    name = ma.fields.String(required=True, validate=ma.validate.Length(1, 200))
    customer_class = ma.fields.String(required=True, data_key="class",
                                      validate=ma.validate.OneOf(CUSTOMER_CLASSES))
    industry = ma.fields.String(required=True, validate=ma.validate.Length(1, 200))
    chain = ma.fields.String(load_default=None, allow_none=True,
                             validate=ma.validate.Length(1, 200))
    group = ma.fields.String(load_default=None, allow_none=True,
                             validate=ma.validate.Length(1, 200))
    last_year_contribution = Money(required=True)


class AssignmentIn(ma.Schema):
    manager_id = identifier(required=True)
    effective_on = Day(required=True)
    reason = text(required=True)


class HoldingSchema(ma.Schema):
    manager_id = ma.fields.String(required=True)
    effective_on = Day(required=True)


class WarningSchema(ma.Schema):
    code = ma.fields.String(required=True)
    rule = ma.fields.String(required=True)
    message = ma.fields.String(required=True)


class CustomerFields(ma.Schema):
    id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    customer_class = ma.fields.String(required=True, data_key="class")
    industry = ma.fields.String(required=True)
    chain = ma.fields.String(allow_none=True, required=True)
    group = ma.fields.String(allow_none=True, required=True)
    last_year_contribution = Money(required=True)
    manager_id = ma.fields.String(allow_none=True, required=True,
                                  metadata={"description": "who holds it after the latest change"})
    holders = ma.fields.List(ma.fields.Nested(HoldingSchema), required=True)


class CustomerOut(CustomerFields, CommandSchema):
    pass


class CustomerListArgs(ma.Schema):
    manager_id = identifier(metadata={"description": "held by this manager today"})
    customer_class = ma.fields.String(data_key="class",
                                      validate=ma.validate.OneOf(CUSTOMER_CLASSES))
    after = identifier(metadata={"description": "cursor: the next_after of the page before"})
    limit = ma.fields.Integer(load_default=MAX_PAGE, validate=ma.validate.Range(1, MAX_PAGE))


class CustomerListOut(Page):
    items = ma.fields.List(ma.fields.Nested(CustomerFields), required=True)
    next_after = ma.fields.String(allow_none=True, required=True,
                                  metadata={"description": "cursor of the next page, if any"})


class HolderArgs(ma.Schema):
    on = Day(required=True)


class HolderOut(ma.Schema):
    customer_id = ma.fields.String(required=True)
    on = Day(required=True)
    manager_id = ma.fields.String(allow_none=True, required=True,
                                  metadata={"description": "null when nobody held it that day"})


class AssignmentOut(CustomerOut):
    warnings = ma.fields.List(ma.fields.Nested(WarningSchema), required=True,
                              metadata={"description": "portfolio-policy warnings (§3.4)"})


def customer_view(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.business_id, "name": customer.name,
        "customer_class": customer.customer_class, "industry": customer.industry,
        "chain": customer.chain, "group": customer.group,
        "last_year_contribution": customer.last_year_contribution,
        "manager_id": customer.holder,
        "holders": [{"manager_id": m, "effective_on": d} for d, m in customer.holder_history],
    }


def customer_reply(made: Made[Customer], *_: Any, **__: Any) -> dict[str, Any]:
    return with_receipt(customer_view(made.value), made.receipt)


def assignment_reply(made: Made[Customer], *_: Any, **__: Any) -> dict[str, Any]:
    """The customer after the assignment, with the policy warnings the command noted."""
    warnings = [{"code": w.code, "rule": w.rule, "message": w.message}
                for w in made.receipt.warnings]
    return {**customer_reply(made), "warnings": warnings}


@blp.route("/customers", methods=["POST"])
@blp.allow("supervisor", "integrator")
@blp.arguments(CustomerIn)
@blp.command(201, CustomerOut, customer_reply)
def register_customer(
    body: dict[str, Any], idempotency: IdempotencyRecord | None
) -> Made[Customer]:
    """Register a customer"""
    fields = {"business_id": body["id"], **{k: v for k, v in body.items() if k != "id"}}
    return ledger().register_customer(**fields, idempotency=idempotency)


@blp.route("/customers/<customer_id>/assignments", methods=["POST"])
@blp.allow("supervisor")
@blp.arguments(AssignmentIn)
@blp.command(200, AssignmentOut, assignment_reply)
def assign_customer(
    body: dict[str, Any], customer_id: str, idempotency: IdempotencyRecord | None
) -> Made[Customer]:
    """Assign or reassign a customer to a manager from a date"""
    return ledger().assign_customer(customer_id, **body, idempotency=idempotency)


# Who reads master data about customers (DESIGN §16); a manager only the customers it holds.
READERS = ("supervisor", "approver", "auditor", "integrator", "manager")


@blp.route("/customers", methods=["GET"])
@blp.allow(*READERS)
@blp.arguments(CustomerListArgs, location="query")
@blp.response(200, CustomerListOut)
def list_customers(args: dict[str, Any]) -> dict[str, Any]:
    """Customers in id order, by class and holder today, a page after the cursor"""
    own = acting_manager_id()
    if own is not None:  # a manager lists the customers it holds, and no one else's
        require_own(args.setdefault("manager_id", own))
    app = ledger()
    page = customer_ids(read_side(), today=app.today(), **args)
    return {"items": [customer_view(app.customer(i)) for i in page.ids],
            "next_after": page.next_after}


@blp.route("/customers/<customer_id>", methods=["GET"])
@blp.allow(*READERS)
@blp.response(200, CustomerFields)
def get_customer(customer_id: str) -> dict[str, Any]:
    """A customer and its holders over time (a manager: a customer it holds today)"""
    app = ledger()
    customer = app.customer(customer_id)
    if acting_manager_id() is not None:
        require_own(customer.holder_on(app.today()) or "")
    return customer_view(customer)


@blp.route("/customers/<customer_id>/holder", methods=["GET"])
@blp.allow(*READERS)
@blp.arguments(HolderArgs, location="query")
@blp.response(200, HolderOut)
def holder(args: dict[str, Any], customer_id: str) -> dict[str, Any]:
    """Who held the customer on a day (a manager: only a day it held it)"""
    customer = ledger().customer(customer_id)
    held_by = customer.holder_on(args["on"])
    if acting_manager_id() is not None:
        require_own(held_by or "")
    return {"customer_id": customer_id, "on": args["on"], "manager_id": held_by}
