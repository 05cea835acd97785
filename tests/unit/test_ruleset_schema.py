"""The rule-set document's JSON Schema agrees with the validator on what it can express."""

from __future__ import annotations

import copy
import json
from importlib.resources import files
from typing import Any

import jsonschema_rs
import pytest

from ledger.errors import RuleSetInvalid
from ledger.ruleset_document import parse_ruleset
from ledger.ruleset_schema import ruleset_json_schema

DEFAULT = json.loads(files("ledger").joinpath("rulesets/2026.1.json").read_text())


def _draft(schema: Any) -> Any:
    """OpenAPI 3.0's `nullable` as JSON Schema proper, to validate with."""
    if isinstance(schema, dict):
        out = {k: _draft(v) for k, v in schema.items() if k not in ("nullable", "example")}
        if schema.get("nullable"):
            if "type" in out:
                out["type"] = [out["type"], "null"]
            elif "oneOf" in out:
                out["oneOf"] = [*out["oneOf"], {"type": "null"}]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        return out
    if isinstance(schema, list):
        return [_draft(v) for v in schema]
    return schema


VALIDATOR = jsonschema_rs.validator_for(_draft(ruleset_json_schema()))


def _broken(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(DEFAULT)
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


def test_the_default_rule_set_is_valid_under_its_schema() -> None:
    parse_ruleset(DEFAULT)
    VALIDATOR.validate(DEFAULT)
    envelope_content = {k: v for k, v in DEFAULT.items() if k not in ("version", "effective_from")}
    assert VALIDATOR.is_valid(envelope_content)  # POST /rulesets takes them in the envelope


@pytest.mark.parametrize(("path", "value"), [
    (("bonus",), {"x": 1}),
    (("version",), "2026"),
    (("pay",), KeyError),
    (("pay", "r_stock"), 0.02),
    (("pay", "base_salary", "D"), "1000"),
    (("deductions", "B1", "points"), 1001),
    (("deductions", "B1", "colour"), "red"),
    (("disputes", "file_within_days"), 0),
    (("portfolio", "group_split"), "sometimes"),
    (("deductions",), {}),
], ids=lambda v: ".".join(v) if isinstance(v, tuple) else None)
def test_what_the_validator_refuses_the_schema_refuses(path: tuple[str, ...], value: Any) -> None:
    doc = _broken(path, value)
    with pytest.raises(RuleSetInvalid):
        parse_ruleset(doc)
    assert not VALIDATOR.is_valid(doc)


def test_the_openapi_document_types_rule_set_content_with_the_schema() -> None:
    from dbsupport import fresh_sqlite_url

    from api import create_app
    from persistence.url import environment_for

    app = create_app({"LEDGER_ENV": environment_for(fresh_sqlite_url())})
    spec = app.test_client().get("/openapi.json").get_json()
    assert spec["components"]["schemas"]["RuleSetDocument"] == ruleset_json_schema()
    content = spec["components"]["schemas"]["RulesetIn"]["properties"]["content"]
    assert content["allOf"] == [{"$ref": "#/components/schemas/RuleSetDocument"}]
