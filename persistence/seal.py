"""The keyed layer of the chain: seals that only a holder of a chain key can make.

A seal is HMAC-SHA256(key, link) stored beside each link. The unkeyed link already
commits to the whole history before it, so one MAC per position is enough; anyone may
recompute a link, only a key holder a seal. The database never holds a key: appenders and
auditors read theirs from the files named by `LEDGER_CHAIN_KEY_FILE` (several files are
separated by the path separator, ":" on POSIX). See docs/tamper-evidence.md.

Which key seals which position is itself in the log: a `ChainKey` event (ledger/chain_key.py)
announces a key and is sealed with it; every later position must be sealed with that key
until the next announcement. Before the first announcement the log is unsealed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from eventsourcing.persistence import PersistenceError, StoredEvent
from eventsourcing.utils import get_topic

from ledger.chain_key import ChainKey

KEY_FILE_ENV = "LEDGER_CHAIN_KEY_FILE"
KEY_BYTES = 32
KEY_ID_HEX = 16
MAX_KEYS = 64
"""A keyring holds at most this many keys (every key ever in force, for an auditor)."""

ANNOUNCING_TOPICS = frozenset(get_topic(cls) for cls in (ChainKey.Introduced, ChainKey.Rotated))
"""Topics of the events at which the key in force may change."""


class ChainKeyUnavailable(PersistenceError):
    """An append must be sealed with a key this process does not hold (fail closed: an
    unsealed or wrongly sealed append would look exactly like a forgery)."""


class ChainKeyFileInvalid(ValueError):
    """A key file that cannot be read as keys."""


@dataclass(frozen=True)
class ChainKeySecret:
    """One chain key. The secret never appears in a repr or a log line."""

    key_id: str
    secret: bytes = field(repr=False)


@dataclass(frozen=True)
class Seal:
    """What the keyed layer stores beside one link."""

    key_id: str
    mac: bytes


def key_id_of(secret: bytes) -> str:
    """A key's public name: 16 hex digits of a hash that reveals nothing of the secret."""
    return hashlib.sha256(b"ledger chain key id\x00" + secret).hexdigest()[:KEY_ID_HEX]


def seal_mac(secret: bytes, link: bytes) -> bytes:
    return hmac.new(secret, b"ledger seal\x00" + link, hashlib.sha256).digest()


class Keyring:
    """The chain keys one process holds, by key id."""

    def __init__(self, keys: Iterable[ChainKeySecret] = ()) -> None:
        self._keys = {k.key_id: k for k in keys}
        if len(self._keys) > MAX_KEYS:
            raise ChainKeyFileInvalid(f"a keyring holds at most {MAX_KEYS} keys")

    def __bool__(self) -> bool:
        return bool(self._keys)

    def key_ids(self) -> list[str]:
        return sorted(self._keys)

    def get(self, key_id: str) -> ChainKeySecret | None:
        return self._keys.get(key_id)

    def seal(self, key_id: str, link: bytes) -> Seal:
        key = self._keys.get(key_id)
        if key is None:
            raise ChainKeyUnavailable(
                f"the chain is sealed with key {key_id}, which this process does not hold: "
                f"add its file to {KEY_FILE_ENV}"
            )
        return Seal(key_id, seal_mac(key.secret, link))

    def check(self, seal: Seal, link: bytes) -> bool | None:
        """True if the seal is genuine, False if not, None if the key is not held here."""
        key = self._keys.get(seal.key_id)
        if key is None:
            return None
        return hmac.compare_digest(seal_mac(key.secret, link), seal.mac)


def read_key_file(path: Path) -> list[ChainKeySecret]:
    """Keys in a file: one secret per line, 64 hex digits; blank lines and # comments."""
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise ChainKeyFileInvalid(f"cannot read chain key file {path}: {e}") from e
    keys = []
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            secret = bytes.fromhex(text)
        except ValueError:
            secret = b""
        if len(secret) != KEY_BYTES:
            raise ChainKeyFileInvalid(f"{path}:{number} is not a {KEY_BYTES}-byte key in hex")
        keys.append(ChainKeySecret(key_id_of(secret), secret))
    return keys


@lru_cache(maxsize=8)
def _keyring_of(paths: str) -> Keyring:
    files = [Path(p) for p in paths.split(os.pathsep) if p]
    return Keyring(k for f in files for k in read_key_file(f))


def keyring_from_environment() -> Keyring:
    """The keys named by LEDGER_CHAIN_KEY_FILE (read once per process and value)."""
    return _keyring_of(os.environ.get(KEY_FILE_ENV, ""))


def generate_key_file(path: Path) -> str:
    """Write a new chain key to `path` (mode 0600, never overwriting); return its key id."""
    secret = secrets.token_bytes(KEY_BYTES)
    path.touch(mode=0o600, exist_ok=False)
    path.write_text(f"# ledger chain key {key_id_of(secret)}\n{secret.hex()}\n")
    return key_id_of(secret)


def announced_key(stored: StoredEvent) -> str | None:
    """The key id a stored event announces, if it is a `ChainKey` event.

    Read from the stored JSON without the application's mapper: the recorder needs it
    under the append lock, and the field is a plain string (the ledger's states are not
    compressed or encrypted; a cipher would have to be undone here first).
    """
    if stored.topic not in ANNOUNCING_TOPICS:
        return None
    key_id = json.loads(stored.state).get("key_id")
    return str(key_id) if key_id is not None else None


def seals_for(
    key_in_force: str | None, links: Sequence[bytes], stored_events: Sequence[StoredEvent],
    keyring: Keyring,
) -> list[Seal | None]:
    """The seal of each new link: with the key in force at the head, switching at each
    announcement; none while no key has been announced."""
    seals: list[Seal | None] = []
    for link, stored in zip(links, stored_events, strict=True):
        key_in_force = announced_key(stored) or key_in_force
        seals.append(None if key_in_force is None else keyring.seal(key_in_force, link))
    return seals
