"""The API reference: Swagger UI at /docs, offline, and a page for every problem type.

Swagger UI's files come from the swagger-ui-bundle package and are served by this app, so
the page names no URL outside it and works on a machine without internet access; it is
started by a script file of ours (no inline script: the page's CSP, api/headers.py). Every
problem report's `type` is `/problems/<slug>`, and that URL answers a page saying what the
problem means and what to do about it (RFC 9457 §3.1.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Response, abort, send_from_directory
from markupsafe import escape
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

STATIC = Path(__file__).parent / "static"
SWAGGER_FILES = frozenset({"swagger-ui.css", "swagger-ui-bundle.js",
                           "swagger-ui-standalone-preset.js", "favicon-32x32.png",
                           "favicon-16x16.png"})
OUR_FILES = frozenset({"swagger-init.js"})
ASSET_SECONDS = 86400

DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Customer-manager assessment ledger: API reference</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png" sizes="32x32">
</head>
<body>
<noscript>The machine-readable reference is <a href="/openapi.json">/openapi.json</a>;
problem types are explained under <a href="/problems/">/problems/</a>.</noscript>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/swagger-ui-standalone-preset.js"></script>
<script src="/docs/assets/swagger-init.js"></script>
</body>
</html>
"""


@dataclass(frozen=True)
class ProblemType:
    slug: str
    status: int
    title: str
    meaning: str
    remedy: str


PROBLEMS: tuple[ProblemType, ...] = (
    ProblemType("invalid-input", 422, "Invalid input",
                "A field is missing, malformed or out of range; `errors` names each field "
                "with its messages.", "Correct the fields named and send the request again."),
    ProblemType("unreadable-json", 400, "Unreadable JSON",
                "The body is not JSON the ledger reads: malformed, NaN or Infinity, too deep.",
                "Send a JSON body with Content-Type application/json."),
    ProblemType("unauthenticated", 401, "Unauthenticated",
                "No bearer token, or one that is unknown, revoked or expired.",
                "Send Authorization: Bearer <token>; ask an operator for a token "
                "(`ledger token create`)."),
    ProblemType("wrong-role", 403, "Wrong role",
                "The token's role may not call this operation (DESIGN §9); `detail` lists "
                "the roles that may.", "Use a token of one of the roles named."),
    ProblemType("not-permitted", 403, "Not permitted",
                "The role may call the operation, but not on this data: a manager sees only "
                "their own, and one person may not both decide and approve.",
                "Ask someone whose role and duties allow it."),
    ProblemType("not-found", 404, "Not found",
                "The manager, customer, period, deduction or other resource named does not "
                "exist (as known at the instant asked).", "Check the identifier."),
    ProblemType("rule-violation", 409, "Rule violation",
                "A business rule refuses the command; `rule` names it and `current_state` "
                "says what stands in the way.", "Nothing was appended; see the rule."),
    ProblemType("deadline-passed", 409, "Deadline passed",
                "The step came after its deadline in business days (a dispute, an appeal).",
                "Nothing was appended; a late step cannot be recorded."),
    ProblemType("duplicate-fact", 409, "Duplicate fact",
                "The same fact (the same source system and external id) is already recorded "
                "with other values.", "Send the fact with its own source keys."),
    ProblemType("conflict", 409, "Conflict",
                "The command does not fit the resource's current state.",
                "Read the resource again and decide anew."),
    ProblemType("refused", 409, "Refused", "The ledger refused the command.",
                "See `detail`."),
    ProblemType("concurrent-change", 409, "Concurrent change",
                "Another request changed the same aggregate at the same moment; this one was "
                "refused whole.", "Retry the request (with the same Idempotency-Key)."),
    ProblemType("idempotency-key-reused", 409, "Idempotency key reused",
                "The Idempotency-Key was used before for a different request.",
                "Use a new key for a new request."),
    ProblemType("database-unavailable", 503, "Database unavailable",
                "The database is away or busy; nothing was committed, or a lost COMMIT left "
                "it unknown.", "Retry after Retry-After seconds with the same Idempotency-Key."),
    ProblemType("projections-lagging", 503, "Projections lagging",
                "The read models are too far behind the log to answer in time.",
                "Retry after Retry-After seconds."),
    ProblemType("statement-key-missing", 503, "Statement key missing",
                "No key to sign pay statements is configured (LEDGER_STATEMENT_KEY).",
                "An operator configures the key; then retry."),
)
BY_SLUG = {p.slug: p for p in PROBLEMS}

blp = Blueprint("reference", __name__)


@blp.get("/docs")
def docs() -> Response:
    """Swagger UI over /openapi.json, every asset from this app."""
    return Response(DOCS_PAGE, mimetype="text/html")


@blp.get("/docs/assets/<name>")
def asset(name: str) -> Response:
    if name in OUR_FILES:
        return send_from_directory(STATIC, name, max_age=ASSET_SECONDS)
    if name in SWAGGER_FILES:
        return send_from_directory(Path(swagger_ui_path), name, max_age=ASSET_SECONDS)
    abort(404)


@blp.get("/problems/")
def problem_index() -> Response:
    rows = "".join(f'<li><a href="/problems/{p.slug}">{escape(p.title)}</a> ({p.status})</li>'
                   for p in PROBLEMS)
    return _page("Problem types", "<p>Every refusal is <code>application/problem+json</code>; "
                 f"its <code>type</code> is one of these.</p><ul>{rows}</ul>")


@blp.get("/problems/<slug>")
def problem_page(slug: str) -> Response:
    found = BY_SLUG.get(slug)
    if found is None:
        abort(404)
    return _page(found.title, f"<p>HTTP status {found.status}.</p>"
                 f"<p>{escape(found.meaning)}</p><p>What to do: {escape(found.remedy)}</p>"
                 '<p><a href="/problems/">All problem types</a> · '
                 '<a href="/docs">API reference</a></p>')


def _page(title: str, body: str) -> Response:
    page = (f'<!doctype html><html lang="en"><meta charset="utf-8"><title>{escape(title)}'
            f"</title><h1>{escape(title)}</h1>{body}</html>")
    return Response(page, mimetype="text/html")
