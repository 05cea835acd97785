"""Pay statements that prove themselves (DESIGN §14): what a statement says, signed, and
rechecked against the ledger.

A statement is a JSON body (the figures, the deductions and their disputes, the score
explanation, the rule-set version, the log position and chain link it was computed at)
and an Ed25519 signature over its canonical form. Verifying checks the signature, that the
log still holds that link at that position, and that recomputing at that position gives
the same body; it also reports which figures later events have changed, and to what.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ledger.errors import InvalidInput
from ledger.quarter import Quarter
from persistence.head import public_hex
from persistence.verify import event_log
from projections.database import reading
from projections.factset import FactSet, load
from projections.read_side import ReadSide

FORMAT = "cm-ledger-statement/1"
ALGORITHM = "Ed25519"
FIGURES = ("base_salary", "stock_task", "incremental_task", "target", "actual",
           "performance_pay", "score", "rating", "error_points", "adjustment_points",
           "disqualified", "actual_pay", "prior_period_adjustment_total", "payable", "frozen")
"""The figures a statement prints and signs, in the order it prints them."""


def statement_body(
    read_side: ReadSide, manager_id: str, period: str, *, as_of: date | None = None,
    position: int | None = None,
) -> dict[str, Any]:
    """The statement of a manager's period at `position` (default: the head of the log)."""
    quarter = Quarter.parse(period)
    at = position or int(read_side.app.recorder.max_notification_id() or 0)
    day = as_of or min(read_side.app.today(), quarter.last_day)
    pay = read_side.pay(manager_id, period, as_of=day, position=at, explain=True)
    score = read_side.score(manager_id, period, as_of=day, position=at, explain=True)
    with reading(read_side.engine) as conn:
        facts = load(conn, [manager_id], at, quarter, postings=False)
    manager = facts.manager(manager_id)
    figures = {**pay, **{k: score[k] for k in ("rating", "error_points", "adjustment_points",
                                               "disqualified")}}
    body = dict(
        format=FORMAT, manager=dict(id=manager_id, name=manager.name, unit=manager.unit,
                                    grade=pay["explanation"]["grade"]),
        period=period, as_of=day, position=at, known_at=pay["known_at"],
        link=_link_at(read_side, at), ruleset_version=pay["ruleset_version"],
        figures={name: figures[name] for name in FIGURES},
        deductions=[line for line in score["explanation"]["lines"]
                    if line.get("deduction_id") is not None],
        disputes=_disputes(facts, manager_id),
        explanation={k: v for k, v in score["explanation"].items() if k != "lines"},
        prior_period_adjustments=pay["prior_period_adjustments"],
    )
    shown: dict[str, Any] = plain(body)
    return shown


def _link_at(read_side: ReadSide, position: int) -> str | None:
    links = event_log(read_side.app.recorder).select_links(position - 1, position, 1)
    return links[0][1].hex() if links else None


def _disputes(facts: FactSet, manager_id: str) -> list[dict[str, Any]]:
    """Each dispute of the manager's deductions with its steps, as the cut knows them."""
    found = []
    for dispute in sorted(facts.disputes, key=lambda d: d.position):
        if dispute.manager_id != manager_id:
            continue
        steps = sorted((s for s in facts.dispute_steps if s.dispute_id == dispute.dispute_id),
                       key=lambda s: s.position)
        found.append(dict(
            dispute_id=str(UUID(hex=dispute.dispute_id)),
            deduction_id=str(UUID(hex=dispute.deduction_id)), position=dispute.position,
            status=steps[-1].status if steps else "open",
            outcome=next((s.outcome for s in reversed(steps) if s.outcome), None),
            steps=[dict(step=s.step, status=s.status, position=s.position) for s in steps],
        ))
    return found


def plain(value: Any) -> Any:
    """JSON's own types only, money as exact decimal text, so the canonical form is one."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, datetime):
        text = value.astimezone(UTC).isoformat(timespec="microseconds")
        return text.replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def canonical(body: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8: the bytes the signature covers."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def signed(body: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The envelope served as statement.json and embedded in the PDF."""
    return dict(statement=body, algorithm=ALGORITHM,
                public_key=public_hex(key.public_key()),
                signature=key.sign(canonical(body)).hex())


def signature_holds(envelope: dict[str, Any], trusted: Ed25519PublicKey) -> bool:
    try:
        trusted.verify(bytes.fromhex(str(envelope["signature"])),
                       canonical(envelope["statement"]))
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return True


def verify_statement(
    read_side: ReadSide, envelope: dict[str, Any], trusted: Ed25519PublicKey
) -> dict[str, Any]:
    """{ok, signature, link, differences, changed_since}: `ok` means the signature holds,
    the log holds the link at the position, and recomputing there gives the same body."""
    body = envelope.get("statement")
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise InvalidInput({"statement": [f"not a {FORMAT} statement"]})
    try:
        position, period = int(body["position"]), str(body["period"])
        manager_id, as_of = str(body["manager"]["id"]), date.fromisoformat(str(body["as_of"]))
        figures = dict(body["figures"])
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidInput({"statement": [f"a field is missing or malformed: {error}"]}) from error
    link_now = _link_at(read_side, position)
    again = statement_body(read_side, manager_id, period, as_of=as_of, position=position)
    now = statement_body(read_side, manager_id, period, as_of=as_of)
    signature = signature_holds(envelope, trusted)
    differences = _differences(body, again)
    answer = dict(signature=signature, link=link_now is not None and link_now == body.get("link"),
                  differences=differences, position=position, head=now["position"],
                  changed_since=_changed(figures, now["figures"]))
    answer["ok"] = signature and answer["link"] and not differences
    return answer


def _differences(signed_body: Any, recomputed: Any, path: str = "") -> list[dict[str, Any]]:
    """Every place where the signed body and the recomputed one disagree, by path."""
    if isinstance(signed_body, dict) and isinstance(recomputed, dict):
        found = []
        for key in sorted(set(signed_body) | set(recomputed)):
            found += _differences(signed_body.get(key), recomputed.get(key),
                                  f"{path}.{key}" if path else key)
        return found
    if signed_body != recomputed:
        return [dict(path=path, statement=signed_body, recomputed=recomputed)]
    return []


def _changed(then: dict[str, Any], now: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(figure=name, statement=then.get(name), now=now.get(name))
            for name in FIGURES if then.get(name) != now.get(name)]
