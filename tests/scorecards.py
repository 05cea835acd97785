"""The public worked example of DESIGN §11 as rule-set documents, for the tests."""

from __future__ import annotations

import copy
from typing import Any

from ledger.ruleset_document import default_document

SCORE_FORMULA = ("performance_points + risk_points + growth_points + teamwork_points + 200"
                 " - error_points * points_to_score + adjustment_points")

SECTIONS: dict[str, Any] = {
    "parameters": {"deposit_target": {"A": "60000000", "B": "40000000", "C": "20000000"}},
    "indicators": {
        "avg_deposits": {"kind": "raw", "title": "日均存款 average daily deposits",
                         "unit": "CNY", "default": "0"},
        "npl_ratio": {"kind": "raw", "title": "不良贷款率 non-performing loan ratio",
                      "unit": "ratio", "default": "0"},
        "new_customers": {"kind": "raw", "title": "新拓有效客户数 new effective customers",
                          "unit": "count", "default": "0"},
        "deposit_completion": {
            "kind": "computed",
            "formula": "if(deposit_target > 0, avg_deposits / deposit_target, 0)"},
        "profit_completion": {"kind": "computed",
                              "formula": "if(target > 0, actual / target, 0)"},
        "performance_points": {
            "kind": "score",
            "formula": "clamp(240 * profit_completion + 120 * deposit_completion, 0, 400)"},
        "risk_points": {
            "kind": "score",
            "formula": "band(npl_ratio, [[0.01, 200], [0.02, 150], [0.03, 100]], 0)"},
        "growth_points": {"kind": "score", "formula": "min(new_customers * 10, 100)"},
        "teamwork_points": {"kind": "score", "formula": "qual_teamwork * 5"},
    },
}


def section_2026_3(version: str = "2026.3") -> dict[str, Any]:
    """§11's rule set exactly: teamwork comes from the qualitative result (§12)."""
    document = default_document()
    document.update(copy.deepcopy(SECTIONS), version=version)
    document["score"]["formula"] = SCORE_FORMULA
    return document


def standing_in_for_teamwork(version: str = "2026.3") -> dict[str, Any]:
    """§11's rule set with a raw indicator `teamwork_result` standing in for qual_teamwork
    until the qualitative assessment (§12, issue 14) provides it."""
    document = section_2026_3(version)
    document["indicators"]["teamwork_result"] = {
        "kind": "raw", "title": "teamwork result (stand-in for §12)", "default": "0"}
    document["indicators"]["teamwork_points"]["formula"] = "teamwork_result * 5"
    return document


WORKED_EXAMPLE_REPORTS = {"avg_deposits": "30000000", "npl_ratio": "0.015",
                          "new_customers": "4", "teamwork_result": "15.4"}
