"""Reading what a page is sent: the API's own schemas, so a form obeys the same field
rules as the JSON body of the same command, and a refusal names the field.

Blank fields are left out (a picker left empty means "now"); a `known_at` without an
offset is read in the bank's time zone, the way a person in the bank means it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import marshmallow as ma

from api.errors import flatten_messages
from api.input_bounds import unstorable_texts
from ledger.errors import InvalidInput
from workspace.session import ledger

MAX_FIELD = 4000


def load(schema: type[ma.Schema], sent: Mapping[str, str], names: tuple[str, ...],
         prefix: str = "") -> dict[str, Any]:
    """The named fields of `sent`, validated by `schema`; InvalidInput names each bad one."""
    given = {name: sent[name] for name in names if sent.get(name, "").strip()}
    errors = {f"{prefix}{field}": [why] for field, why in unstorable_texts(given)}
    if errors:
        raise InvalidInput(errors)
    try:
        loaded: dict[str, Any] = schema().load(given, partial=False)
    except ma.ValidationError as refused:
        raise InvalidInput({f"{prefix}{k}": v for k, v in
                            flatten_messages(refused.messages).items()}) from refused
    return loaded


def cut(sent: Mapping[str, str]) -> dict[str, str]:
    """The cut fields of a query, `known_at` given its offset if it had none."""
    fields = {name: sent.get(name, "").strip()[:MAX_FIELD] for name in
              ("period", "as_of", "known_at")}
    fields["known_at"] = _with_offset(fields["known_at"])
    return fields


def _with_offset(known_at: str) -> str:
    try:
        moment = datetime.fromisoformat(known_at)
    except ValueError:
        return known_at  # the schema names the field
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ledger().timezone)
    return moment.isoformat()
