"""The rule-set document (DESIGN §3.7) as a JSON Schema, for the API reference and clients.

Built from the same names and bounds `ledger.ruleset_document` validates with, so the two
cannot drift apart in what they name; the validator stays the authority (it also checks
what a schema cannot say, such as ratings strictly descending, and lists every problem at
once), and tests/unit/test_ruleset_schema.py holds the default rule set against this schema.
Written in the JSON Schema subset of OpenAPI 3.0 (`nullable`, no `$schema`, no
`patternProperties`), so that it can sit in the OpenAPI document as it is.
"""

from __future__ import annotations

from typing import Any

from ledger import ruleset_document as rd

SCHEMA_NAME = "RuleSetDocument"


def _decimal(description: str) -> dict[str, Any]:
    return {"description": description + ' (a decimal string such as "0.02", or a whole '
            "number; never a fractional JSON number)",
            "oneOf": [{"type": "string", "pattern": rd._DECIMAL.pattern},
                      {"type": "integer", "minimum": 0}]}


def _days(description: str) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": rd.MAX_DAYS,
            "description": description + " (business days)"}


def _closed(properties: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "required": [k for k in properties if k not in optional]}


def _score() -> dict[str, Any]:
    ratings = _closed({name: {"type": "integer", "minimum": 0, "maximum": rd.MAX_SCORE_BASE}
                       for name in rd.RATING_THRESHOLD_NAMES})
    ratings["description"] = ("minimum score of each rating, strictly descending; below "
                              "satisfactory is needs_improvement")
    return _closed({
        "base": {"type": "integer", "minimum": 1, "maximum": rd.MAX_SCORE_BASE,
                 "description": "the score before deductions (1000)"},
        "points_to_score": {"type": "integer", "minimum": 0, "maximum": rd.MAX_SCORE_BASE,
                            "description": "score lost per error point (10)"},
        "aggravation_factor": {"type": "integer", "minimum": 1,
                               "maximum": rd.MAX_AGGRAVATION_FACTOR},
        "pending_dispute_counts": {"type": "boolean",
                                   "description": "a disputed deduction counts until decided"},
        "ratings": ratings,
        "formula": {"type": "string", "description": "a score formula (DESIGN §11)"},
    }, optional=("formula",))


def _pay() -> dict[str, Any]:
    salary = _decimal("base salary per quarter")
    return _closed({
        "r_stock": _decimal("rate on the stock target S"),
        "r_incr": _decimal("rate on the incremental target"),
        "r_over": _decimal("rate on what exceeds the target"),
        "risk_adjusted": {"type": "boolean"},
        "base_salary": _closed({grade: salary for grade in rd.GRADES}),
    })


def _rule() -> dict[str, Any]:
    rule = _closed({
        "category": {"type": "string", "pattern": rd._CATEGORY.pattern},
        "title": {"type": "string", "minLength": 1, "maxLength": rd.MAX_TITLE_CHARS},
        "points": {"type": "integer", "minimum": 0, "maximum": rd.MAX_RULE_POINTS},
        "aggravatable": {"type": "boolean"},
        "disqualifying": {"type": "boolean"},
        "always_disqualifies": {"type": "boolean"},
        "veto": {"type": "boolean", "description": "a deduction under it fails the rating"},
        "title_zh": {"type": "string", "minLength": 1, "maxLength": rd.MAX_TITLE_CHARS},
    }, optional=rd._RULE_OPTIONAL_KEYS)
    return rule


def _section(description: str) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": True, "description": description}


def ruleset_json_schema() -> dict[str, Any]:
    """The whole document: part one closed and exact, the later sections described."""
    deductions = {"type": "object", "minProperties": 1,
                  "maxProperties": rd.MAX_DEDUCTION_RULES, "additionalProperties": _rule(),
                  "description": "the deduction catalogue by rule code (E1, C17c, S1b: "
                                 f"{rd._RULE_CODE.pattern})"}
    portfolio = _closed({
        "premium_requires_grade": {"type": "string", "enum": list(rd.GRADES),
                                   "nullable": True},
        "group_split": {"type": "string", "enum": list(rd.GROUP_SPLIT_MODES)},
        "span_factor": {**_decimal("span-of-control warning factor; null: off"),
                        "nullable": True},
    })
    later = {
        "parameters": _section("scorecard parameters (DESIGN §11)"),
        "indicators": _section("indicators and their score formula (DESIGN §11)"),
        "qualitative_items": _section("qualitative assessment items (DESIGN §12)"),
        "consequences": _section("what consecutive ratings bring (DESIGN §13)"),
        "adjustments": _section("adjustment approval limits (DESIGN §16)"),
    }
    schema = _closed({
        "version": {"type": "string", "pattern": rd._VERSION.pattern, "example": "2026.1"},
        "effective_from": {"type": "string", "format": "date", "example": "2026-01-01"},
        "score": _score(),
        "pay": _pay(),
        "deductions": deductions,
        "disputes": _closed({key: _days(key.replace("_", " ")) for key in rd._DISPUTE_KEYS}),
        "portfolio": portfolio,
        **later,
    }, optional=("version", "effective_from", *later))
    schema["description"] = ("A rule-set document (DESIGN §3.7); `ledger rulesets draft` and "
                             "POST /rulesets refuse one that breaks it, listing every problem. "
                             "`version` and `effective_from` may be left to the envelope "
                             "{version, effective_from, content} that POST /rulesets takes.")
    return schema
