"""The chain's head kept outside the database, signed with an operator's Ed25519 key.

An exported head lets an auditor prove later that the log still extends what it was:
every event up to the head's position is still there, unchanged, in the same order.
"""

from __future__ import annotations

import json
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

from ledger.errors import HeadFileInvalid
from persistence.verify import ChainSource, Problem, VerifyResult

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
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(trusted_public_key))
    try:
        key.verify(bytes.fromhex(head.signature), head.signed_bytes())
    except (InvalidSignature, ValueError) as e:
        msg = f"the signature of {path} does not verify with the trusted key"
        raise HeadFileInvalid(msg) from e
    return head


def check_extends(source: ChainSource, result: VerifyResult, head: SignedHead) -> Problem | None:
    """Does the verified log still extend the exported head?"""
    if result.first_bad is not None and result.first_bad.position <= head.position:
        return result.first_bad
    if result.head_position < head.position:
        return Problem(
            result.head_position + 1, "missing",
            f"the log ends at {result.head_position}; the exported head is at {head.position}",
        )
    if head.position == 0:
        return None
    links = source.select_links(head.position - 1, head.position, 1)
    if not links or links[0][1].hex() != head.link:
        return Problem(head.position, "altered", "the link at the exported head differs")
    return None
