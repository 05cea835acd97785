"""Pay statements over HTTP (DESIGN §14): the signed PDF, its statement.json, and the
auditors' upload that verifies either against the ledger."""
# flask-smorest ships no type hints, so its route decorators are untyped.
# mypy: disable-error-code="untyped-decorator"

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, request

from api.auth import require_own
from api.common import Day, LedgerBlueprint, ledger
from api.errors import problem
from api.scores_and_pay import read_side
from ledger.errors import InvalidInput
from ledger.quarter import Quarter
from persistence.statement_key import StatementKeyMissing, statement_key
from projections.statement_pdf import render, verify_document
from projections.statements import signed, statement_body

blp = LedgerBlueprint("statements", __name__, description="Signed pay statements (DESIGN §14)")

MAX_UPLOAD = 1024 * 1024
"""A statement PDF is a few dozen KB; anything past this is not one."""


@blp.errorhandler(StatementKeyMissing)
def _no_key(error: StatementKeyMissing) -> Response:
    """`ledger serve` refuses to start without a key; a test app or a worker that lost its
    key file answers 503 naming what to set, never a 500."""
    return problem(503, str(error), slug="statement-key-missing", title="No statement key")


class StatementArgs(ma.Schema):
    period = ma.fields.String(metadata={"description": "quarter such as 2026Q1 "
                                        "(default: the current quarter)"})
    as_of = Day(metadata={"description": "business date (default: today, at most the "
                                         "period's last day)"})


class StatementDifferenceOut(ma.Schema):
    path = ma.fields.String(required=True)
    statement = ma.fields.Raw(allow_none=True, required=True)
    recomputed = ma.fields.Raw(allow_none=True, required=True)


class ChangeOut(ma.Schema):
    figure = ma.fields.String(required=True)
    statement = ma.fields.Raw(allow_none=True, required=True)
    now = ma.fields.Raw(allow_none=True, required=True)


class VerifiedOut(ma.Schema):
    ok = ma.fields.Boolean(required=True)
    signature = ma.fields.Boolean(required=True)
    link = ma.fields.Boolean(required=True, metadata={
        "description": "the log still holds the statement's link at its position"})
    position = ma.fields.Integer(required=True)
    head = ma.fields.Integer(required=True)
    differences = ma.fields.List(ma.fields.Nested(StatementDifferenceOut), required=True, metadata={
        "description": "where recomputing at the position disagrees with the statement"})
    misprinted = ma.fields.List(ma.fields.String(), required=True, metadata={
        "description": "figures printed on the PDF's page other than signed"})
    changed_since = ma.fields.List(ma.fields.Nested(ChangeOut), required=True, metadata={
        "description": "figures later events changed: the statement's value and today's"})


def _envelope(manager_id: str, args: dict[str, Any]) -> dict[str, Any]:
    require_own(manager_id)
    period = str(args.get("period") or Quarter.of(ledger().today()))
    body = statement_body(read_side(), manager_id, period, as_of=args.get("as_of"))
    return signed(body, statement_key(ledger().env))


@blp.route("/managers/<manager_id>/statement", methods=["GET"])
@blp.allow("auditor", "approver", "manager")
@blp.arguments(StatementArgs, location="query")
@blp.response(200, description="the signed statement as a PDF", content_type="application/pdf")
def statement_pdf(args: dict[str, Any], manager_id: str) -> Any:
    """A manager's signed pay statement for a period, as a PDF (managers: their own)"""
    envelope = _envelope(manager_id, args)
    name = f"statement-{manager_id}-{envelope['statement']['period']}.pdf"
    return Response(render(envelope), mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@blp.route("/managers/<manager_id>/statement.json", methods=["GET"])
@blp.allow("auditor", "approver", "manager")
@blp.arguments(StatementArgs, location="query")
@blp.response(200, description="the signed statement: {statement, algorithm, public_key, "
              "signature}")
def statement_json(args: dict[str, Any], manager_id: str) -> Any:
    """A manager's signed pay statement for a period, as JSON (managers: their own)"""
    return _envelope(manager_id, args)


@blp.route("/audit/statements/verify", methods=["POST"])
@blp.allow("auditor")
@blp.response(200, VerifiedOut)
def verify_route() -> Any:
    """Verifies a statement (its PDF or statement.json, as the body or a `file` upload)
    with the service's statement key, against the ledger"""
    upload = request.files.get("file")
    document = upload.read(MAX_UPLOAD + 1) if upload else request.get_data()
    if not document or len(document) > MAX_UPLOAD:
        raise InvalidInput({"file": [f"send a statement PDF or JSON of at most {MAX_UPLOAD} "
                                     "bytes"]})
    trusted = statement_key(ledger().env).public_key()
    return verify_document(read_side(), document, trusted)
