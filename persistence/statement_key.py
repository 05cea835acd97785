"""The service's statement key (DESIGN §10, §14): the Ed25519 key that signs pay statements.

`LEDGER_STATEMENT_KEY` names the key file. On the embedded SQLite default a missing key is
generated once beside the SQLite file (mode 0600) and reused, so a demo signs without set-up;
with PostgreSQL a missing key is a configuration error naming the variable, because a
production service that invented its own key would sign with one nobody has registered.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from persistence.head import generate_key, load_private_key, public_hex
from persistence.secret_files import beside_sqlite, generated_once

VARIABLE = "LEDGER_STATEMENT_KEY"
SQLITE_SUFFIX = ".statement-key.pem"


class StatementKeyMissing(RuntimeError):
    """The service cannot sign statements: raised at start, naming what to set."""


def statement_key_path(env: dict[str, str]) -> tuple[Path, bool]:
    """The key file, and whether it may be generated when missing (SQLite only)."""
    beside = beside_sqlite(env, SQLITE_SUFFIX)
    named = os.environ.get(VARIABLE)
    if named:
        return Path(named), beside is not None
    if beside is not None:
        return beside, True
    raise StatementKeyMissing(
        f"{VARIABLE} is not set: with PostgreSQL the service needs the path of an Ed25519 "
        "key file to sign pay statements (`ledger head-key generate FILE` writes one)")


def statement_key(env: dict[str, str]) -> Ed25519PrivateKey:
    """Loads the statement key, generating it first where DESIGN §10 allows that."""
    path, may_generate = statement_key_path(env)
    if not path.exists():
        if not may_generate:
            raise StatementKeyMissing(f"{VARIABLE}={path}: no such key file")
        generated_once(path, generate_key)
    return load_private_key(path)


def public_key_hex(env: dict[str, str]) -> str:
    return public_hex(statement_key(env).public_key())


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """A public key given as hex (as `ledger head-key generate` prints it) or PEM."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    stripped = text.strip()
    if stripped.startswith("-----BEGIN"):
        if "PRIVATE KEY" in stripped:
            private = serialization.load_pem_private_key(stripped.encode(), password=None)
            if isinstance(private, Ed25519PrivateKey):
                return private.public_key()
        else:
            public = serialization.load_pem_public_key(stripped.encode())
            if isinstance(public, Ed25519PublicKey):
                return public
        raise ValueError("the key file holds no Ed25519 key")
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(stripped))
