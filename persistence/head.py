"""The chain's head, signed with an operator's Ed25519 key, kept where the log cannot undo it.

A signed head lets an auditor prove later that the log still extends what it was: every
event up to the head's position is still there, unchanged, in the same order. Heads are
kept in two places: in `chain_heads`, which the service role may only add to (so plain
`verify` names a tail truncated after the latest head), and in files outside the database
(`--export-head`, checked with `--against`), which not even the database's owner reaches.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sqlalchemy import Engine, text

from ledger.errors import HeadFileInvalid
from persistence.records import HEAD_COLUMNS
from persistence.seal import Keyring
from persistence.verify import EventLog, Problem, VerifyResult, verify

MAX_STORED_HEADS = 100
"""Plain verify compares the log with at most this many of the latest stored heads."""

SIGNED_FIELDS = ("position", "link", "recorded_at", "exported_at")


@dataclass(frozen=True)
class SignedHead:
    position: int
    link: str
    recorded_at: str | None
    exported_at: str
    public_key: str
    signature: str

    def signed_bytes(self) -> bytes:
        return _canonical({name: getattr(self, name) for name in SIGNED_FIELDS})


def _canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def generate_key(path: Path) -> str:
    """Write a new private key (PEM, mode 0600) and return its public key in hex."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.touch(mode=0o600, exist_ok=False)
    path.write_bytes(pem)
    return public_hex(key.public_key())


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        msg = f"{path} does not hold an Ed25519 private key"
        raise HeadFileInvalid(msg)
    return key


def public_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def sign_head(result: VerifyResult, key: Ed25519PrivateKey) -> SignedHead:
    """Sign the head of a log that verified."""
    recorded_at = (None if result.head_recorded_at is None
                   else result.head_recorded_at.astimezone(UTC).isoformat())
    exported_at = datetime.now(UTC).isoformat()
    fields = {"position": result.head_position, "link": result.head_link.hex(),
              "recorded_at": recorded_at, "exported_at": exported_at}
    return SignedHead(position=result.head_position, link=result.head_link.hex(),
                      recorded_at=recorded_at, exported_at=exported_at,
                      public_key=public_hex(key.public_key()),
                      signature=key.sign(_canonical(fields)).hex())


def write_head(head: SignedHead, path: Path) -> None:
    path.write_text(json.dumps(head.__dict__, indent=2, sort_keys=True) + "\n")


def read_head(path: Path, trusted_public_key: str) -> SignedHead:
    """Read a head file and check its signature against the key the auditor trusts."""
    try:
        head = SignedHead(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as e:
        msg = f"cannot read head file {path}: {e}"
        raise HeadFileInvalid(msg) from e
    if not signature_holds(head, trusted_public_key):
        msg = f"the signature of {path} does not verify with the trusted key"
        raise HeadFileInvalid(msg)
    return head


def signature_holds(head: SignedHead, trusted_public_key: str) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(trusted_public_key))
        key.verify(bytes.fromhex(head.signature), head.signed_bytes())
    except (InvalidSignature, ValueError):
        return False
    return True


def record_head(engine: Engine, head: SignedHead) -> None:
    """Keep a signed head in `chain_heads` (insert-only for the service role)."""
    columns = ", ".join(HEAD_COLUMNS)
    values = ", ".join(f":{c}" for c in HEAD_COLUMNS)
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO chain_heads ({columns}) VALUES ({values})"),
                     {c: getattr(head, c) for c in HEAD_COLUMNS})


def stored_heads(source: EventLog) -> list[SignedHead]:
    """The latest heads kept in `chain_heads`, highest position first."""
    return [SignedHead(*row) for row in source.select_heads(MAX_STORED_HEADS)]


def check_extends(source: EventLog, result: VerifyResult, head: SignedHead) -> list[Problem]:
    """What is wrong with the log as an extension of `head` (nothing: an empty list).

    Only the head's own position is compared here; failures before and after it are the
    walk's (`result.problems`), which `audit` reports beside these.
    """
    end = result.head_position
    if end < head.position:
        return [Problem(end + 1, "missing",
                        f"the log ends at {end}; the head signed at {head.exported_at} "
                        f"is at {head.position}")]
    if head.position == 0:
        return []
    links = source.select_links(head.position - 1, head.position, 1)
    if links and links[0][0] == head.position and links[0][1].hex() == head.link:
        return []
    return [_first_rewritten(source, head)]


def _first_rewritten(source: EventLog, head: SignedHead) -> Problem:
    """Where a history that no longer reaches `head` was rewritten, as far as can be told.

    Recording times never decrease and are the ledger's, so an event recorded after the
    head's own event, at or before the head's position, was written after the head was
    signed: the rewrite starts there. Otherwise (a forger who kept the times) only the
    seals can tell, and the walk with the chain key names that position.
    """
    if head.recorded_at is not None:
        known = source.position_known_at(datetime.fromisoformat(head.recorded_at))
        if known < head.position:
            return Problem(known + 1, "altered",
                           f"recorded after the head at {head.position} was signed: the "
                           "history from here on was rewritten")
    return Problem(head.position, "altered",
                   f"the link at the head signed at {head.exported_at} differs: the history "
                   "up to it was rewritten with recomputed links (verify with the chain key "
                   "to name the first forged position)")


def check_stored_heads(
    source: EventLog, result: VerifyResult, trusted_public_key: str | None
) -> list[Problem]:
    """Compare the log with the heads kept in `chain_heads`.

    Without a trusted public key a stored head is taken as it is: a forged one can then
    raise a false alarm, never hide a change, since it can only claim more than the log has.
    """
    problems = []
    for head in stored_heads(source):
        if trusted_public_key is not None and not signature_holds(head, trusted_public_key):
            problems.append(Problem(head.position, "forged",
                                    f"the head stored for {head.position} ({head.exported_at}) "
                                    "is not signed by the trusted key"))
            continue
        problems.extend(check_extends(source, result, head))
    return problems


def merged(problems: Iterable[Problem]) -> tuple[Problem, ...]:
    """Problems in log order, each (position, kind) once."""
    seen: dict[tuple[int, str], Problem] = {}
    for problem in problems:
        seen.setdefault((problem.position, problem.kind), problem)
    return tuple(sorted(seen.values(), key=lambda p: p.position))


def audit(
    source: EventLog, *, keyring: Keyring | None = None, trusted_public_key: str | None = None,
    against: Sequence[SignedHead] = (), progress: Callable[[int], object] | None = None,
) -> VerifyResult:
    """The walk (with the chain key when given), the stored heads and any head files, as
    one result that names every failure found, the first bad position first."""
    result = verify(source, progress, keyring)
    found = [*result.problems, *check_stored_heads(source, result, trusted_public_key)]
    for head in against:
        found.extend(check_extends(source, result, head))
    problems = merged(found)
    return dataclasses.replace(result, ok=not problems, problems=problems,
                               first_bad=problems[0] if problems else None)
