"""Customers: registration and (re)assignment to managers (DESIGN §9)."""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from typing import Any

import marshmallow as ma

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
from ledger.application import Made
from ledger.customer import CUSTOMER_CLASSES, Customer
from ledger.store import IdempotencyRecord

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


class CustomerOut(CommandSchema):
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
