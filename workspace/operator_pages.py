"""The operator's pages (DESIGN §15): the rule sets, one version's document, a draft's shadow
diff against live (who changes, by how much, and exactly why), and publishing.

The diff is projections.rule_diff's, the code behind GET /rulesets/{version}/diff and
`ledger rulesets diff`: its causes are only the parameters and events that moved each
figure. Publishing is the application's command, refused as the API's route is.
Auditors read the same pages (as they may read the diff over the API); only an operator
publishes.
"""

from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, render_template, url_for

from ledger.errors import LedgerError
from projections.materialised import MAX_DIFF_KEYS
from projections.rule_diff import diff_against_live, key_answer
from workspace import blp
from workspace.i18n import translated
from workspace.queue_pages import refused
from workspace.session import ledger, pages_for, read_side

READERS = ("operator", "auditor")
DIFF_KEYS = min(MAX_DIFF_KEYS, 200)
"""The most manager-and-period differences one page shows (TB: bound everything)."""


@blp.get("/rulesets")
@pages_for(*READERS)
def rulesets_page() -> Any:
    """Every version, drafted or published, in drafting order."""
    book = ledger().rulebook()
    versions = [{"version": v, "effective_from": book.effective_from_of(v),
                 "published": book.is_published(v)} for v in book.versions()]
    return render_template("operator/rulesets.html", versions=versions)


@blp.get("/rulesets/<version>")
@pages_for(*READERS)
def ruleset_page(version: str) -> Any:
    """A version's catalog and its whole document; a draft's publish form."""
    return render_ruleset(version)


def render_ruleset(version: str, *, refusal: str | None = None, status: int = 200,
                   errors: dict[str, list[str]] | None = None) -> Any:
    book = ledger().rulebook()
    content = book.content_of(version)  # NotFound for a version never drafted
    rules = ledger().ruleset(version).deductions
    return render_template(
        "operator/ruleset.html", version=version, published=book.is_published(version),
        effective_from=book.effective_from_of(version),
        catalog=[rules[code] for code in sorted(rules)], refusal=refusal,
        document=json.dumps(content, indent=2, ensure_ascii=False, sort_keys=True)), status


@blp.get("/rulesets/<version>/diff")
@pages_for(*READERS)
def diff_page(version: str) -> Any:
    """Per manager and period: the figure live, under this version, the delta, and only
    the causes that moved it, both sides computed at one log position."""
    side = read_side()
    position = side.catch_up(side.catch_up_timeout)
    keys = diff_against_live(side.engine, version, position, DIFF_KEYS)
    return render_template("operator/diff.html", version=version, position=position,
                           items=[key_answer(k) for k in keys], bounded=len(keys) >= DIFF_KEYS,
                           published=ledger().rulebook().is_published(version))


@blp.post("/rulesets/<version>/publish")
@pages_for("operator")
def publish(version: str) -> Any:
    """Publishes a drafted version: immutable from then on, and every figure it touches
    follows it."""
    try:
        ledger().publish_ruleset(version)
    except LedgerError as error:
        return refused(render_ruleset, error, version)
    flash(translated("Rule set %(version)s is published.", version=version))
    return redirect(url_for("workspace.ruleset_page", version=version), 303)
