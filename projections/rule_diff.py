"""Exact causes for a rule-set diff, and the diff of a version against live (DESIGN §16).

A figure's causes are only what moved it. For parameters that is found by recomputing with
one differing parameter reverted at a time: a parameter is a cause of every figure the
revert brings back. For events it is those whose effect differs between the two rule sets
(or that were recorded between the two cuts). `ledger projections diff`, `ledger rulesets
diff` and `GET /rulesets/{version}/diff` all explain through `exact_causes`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Engine, select

from ledger.errors import LedgerError, RuleSetInvalid
from ledger.quarter import Quarter
from ledger.ruleset_document import RuleSetDocument, parse_ruleset, to_document
from projections import tables as t
from projections.database import reading
from projections.factset import FactSet, load

MANAGERS_PER_PAGE = 100
MAX_REVERTED = 512
_reverted_cache: dict[tuple[str, str, str], RuleSetDocument | None] = {}


def exact_causes(
    facts: FactSet, manager_id: str, period: Quarter, new_rules: RuleSetDocument | None,
    parameters: tuple[tuple[str, Any, Any], ...], new_row: Any, figures: tuple[str, ...],
) -> dict[str, tuple[str, ...]]:
    """For each differing parameter (path, before, after), the figures its revert moves;
    a parameter that moves none of `figures` is no cause and is left out."""
    from projections.materialised import _row  # noqa: PLC0415 - materialised imports us

    if new_rules is None:
        return {}
    found: dict[str, tuple[str, ...]] = {}
    for path, before, _ in parameters:
        reverted = _reverted(new_rules, path, before)
        if reverted is None:  # the revert alone is no valid rule set: keep it as a cause
            found[path] = figures
            continue
        try:
            row = _row(facts, "revert", manager_id, period, reverted)
        except LedgerError:
            found[path] = figures
            continue
        moved = tuple(f for f in figures if row[f] != getattr(new_row, f))
        if moved:
            found[path] = moved
    return found


def _reverted(rules: RuleSetDocument, path: str, before: Any) -> RuleSetDocument | None:
    key = (rules.version, path, repr(before))
    if key not in _reverted_cache:
        if len(_reverted_cache) >= MAX_REVERTED:
            _reverted_cache.clear()
        _reverted_cache[key] = _revert(rules, path, before)
    return _reverted_cache[key]


def _revert(rules: RuleSetDocument, path: str, before: Any) -> RuleSetDocument | None:
    document = to_document(rules)
    *parents, leaf = path.split(".")
    node: Any = document
    for part in parents:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if not isinstance(node, dict):
        return None
    if before is None:
        node.pop(leaf, None)
    else:
        # Decimals travel as strings in the document (§3.7); whole numbers as numbers.
        node[leaf] = str(before) if isinstance(before, Decimal) else before
    try:
        return parse_ruleset(document)
    except RuleSetInvalid:
        return None


def moved_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only the events whose effect differs under the two rule sets, or that are new."""
    return [e for e in events if e["new"] or e.get("effect_before") != e.get("effect_after")]


def diff_against_live(
    engine: Engine, version: str, position: int, limit: int,
    start_after: tuple[str, str] | None = None,
) -> list[Any]:
    """Per manager and period (in that order, after `start_after`), the figures that
    `version` would give against those of the rule set in force (live), both at log
    `position`, with their exact causes."""
    from projections.materialised import LIVE, compare, figure_rows  # noqa: PLC0415

    live: dict[tuple[str, str], Any] = {}
    shadow: dict[tuple[str, str], Any] = {}
    with reading(engine) as conn:
        ids = [r.manager_id for r in conn.execute(
            select(t.managers.c.manager_id).where(t.managers.c.position <= position)
            .order_by(t.managers.c.manager_id))]
        for start in range(0, len(ids), MANAGERS_PER_PAGE):
            facts = load(conn, ids[start:start + MANAGERS_PER_PAGE], position)
            facts.rulesets.version(version)  # NotFound for a version unknown at the cut
            live.update(_keyed(figure_rows(facts, LIVE, None)))
            shadow.update(_keyed(figure_rows(facts, version, version)))
        return compare(conn, live, shadow, limit, start_after)


def _keyed(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], Any]:
    return {(r["manager_id"], r["period"]): SimpleNamespace(**r) for r in rows}


def key_answer(key: Any) -> dict[str, Any]:
    """One manager-and-period difference as the HTTP answer shows it."""
    named = {path: (old, new) for path, old, new in key.parameters}
    return {
        "manager_id": key.manager_id, "period": key.period,
        "ruleset_before": key.ruleset_before, "ruleset_after": key.ruleset_after,
        "figures": [{
            "figure": c.figure, "before": _text(c.before), "after": _text(c.after),
            "delta": _text(c.delta),
            "causes": [{"parameter": p, "before": _text(named[p][0]),
                        "after": _text(named[p][1])} for p in key.causes.get(c.figure, ())],
        } for c in key.changes],
        "events": [{k: _text(v) for k, v in e.items()} for e in key.events],
        "more_events": key.more_events,
    }


def _text(value: Any) -> Any:
    # Money and other decimals as decimal strings (§9); the rest as JSON has them.
    return str(value) if isinstance(value, Decimal) else value
