"""`ledger statements issue` and `ledger statement verify` (DESIGN §14), on SQLite and
PostgreSQL, and the statement key's start-up rule (DESIGN §10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dbsupport import postgres_admin_url, postgres_service_url, reset_postgres

from ledger_cli.main import main
from ledger_cli.serving import on_starting
from persistence.head import generate_key, public_hex


def _invoke(args: list[str], env: dict[str, str]) -> Result:
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def _issue_and_verify(env: dict[str, str], out: Path) -> None:
    for setup in (["db", "upgrade"], ["demo"]):
        assert _invoke(setup, env).exit_code == 0
    issued = _invoke(["statements", "issue", "2026Q1", str(out)], env)
    assert issued.exit_code == 0, issued.output
    assert "3 statements for 2026Q1" in issued.output
    pdf, signed = out / "statement-M1-2026Q1.pdf", out / "statement-M1-2026Q1.json"
    for document in (pdf, signed):
        checked = _invoke(["statement", "verify", str(document)], env)
        assert checked.exit_code == 0, checked.output
        assert "verifies" in checked.output
    # Signed figures altered: the signature fails and recomputing names the figure.
    envelope = json.loads(signed.read_text(encoding="utf-8"))
    envelope["statement"]["figures"]["payable"] = "1.00"
    altered = out / "altered.json"
    altered.write_text(json.dumps(envelope), encoding="utf-8")
    refused = _invoke(["statement", "verify", str(altered)], env)
    assert refused.exit_code == 1
    assert "DOES NOT VERIFY" in refused.output and "signature does not hold" in refused.output
    assert "recomputed figures.payable: statement '1.00'" in refused.output
    # Another key than the one that signed: refused too.
    stranger = public_hex(Ed25519PrivateKey.generate().public_key())
    assert _invoke(["statement", "verify", str(pdf), "--public-key", stranger],
                   env).exit_code == 1


def test_statements_are_issued_and_verified_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    _issue_and_verify({"LEDGER_DATABASE_URL": url}, tmp_path / "out")
    key = tmp_path / "ledger.db.statement-key.pem"
    assert key.stat().st_mode & 0o777 == 0o600  # generated once beside the file, and kept


@pytest.mark.postgres
def test_statements_are_issued_and_verified_on_postgres(tmp_path: Path) -> None:
    reset_postgres()
    key = tmp_path / "statement.pem"
    generate_key(key)
    env = {"LEDGER_DATABASE_URL": postgres_service_url(),
           "LEDGER_ADMIN_DATABASE_URL": postgres_admin_url(), "LEDGER_STATEMENT_KEY": str(key)}
    _issue_and_verify(env, tmp_path / "out")


def test_with_postgresql_a_missing_statement_key_stops_the_service_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEDGER_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.delenv("LEDGER_STATEMENT_KEY", raising=False)
    with pytest.raises(SystemExit, match="LEDGER_STATEMENT_KEY"):
        on_starting(None)
