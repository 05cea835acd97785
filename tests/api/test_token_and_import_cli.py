"""`ledger token create|revoke` and `ledger import contributions`, through click."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from dbsupport import fresh_sqlite_url

from ledger.application import LedgerApplication
from ledger.demo import load_demo
from ledger.ids import contribution_id
from ledger_cli.imports import import_
from ledger_cli.tokens import token
from persistence.tokens import TokenStore
from persistence.url import environment_for

HEADER = "customer_id,booked_on,interest_income,deposit_earnings,fee_income,risk_cost," \
         "source_system,external_id\n"


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch) -> LedgerApplication:
    url = fresh_sqlite_url()
    monkeypatch.setenv("LEDGER_DATABASE_URL", url)
    app = LedgerApplication(env=environment_for(url))
    load_demo(app)
    return app


def test_token_create_prints_only_the_token_and_it_authenticates(
    database: LedgerApplication
) -> None:
    result = CliRunner().invoke(token, ["create", "--role", "manager", "--subject", "m1-user",
                                        "--manager-id", "M1"])
    assert result.exit_code == 0, result.output
    printed = result.output.strip()
    assert "\n" not in printed and printed.startswith("lt_")
    principal = TokenStore.of(database).principal(printed)
    assert principal is not None
    assert (principal.role, principal.subject, principal.manager_id) == ("manager", "m1-user", "M1")


def test_a_manager_token_needs_a_manager_id_and_no_other_token_has_one(
    database: LedgerApplication
) -> None:
    runner = CliRunner()
    assert runner.invoke(token, ["create", "--role", "manager", "--subject", "x"]).exit_code == 2
    assert runner.invoke(token, ["create", "--role", "auditor", "--subject", "x",
                                 "--manager-id", "M1"]).exit_code == 2
    assert runner.invoke(token, ["create", "--role", "king", "--subject", "x"]).exit_code == 2


def test_token_revoke_by_token_or_by_subject(database: LedgerApplication) -> None:
    store = TokenStore.of(database)
    first = store.create(role="auditor", subject="aud")
    second = store.create(role="auditor", subject="aud")
    runner = CliRunner()
    assert runner.invoke(token, ["revoke", first]).output.strip() == "revoked 1 token(s)"
    assert store.principal(first) is None and store.principal(second) is not None
    assert runner.invoke(token, ["revoke", first]).exit_code == 1
    assert runner.invoke(token, ["revoke", "--subject", "aud"]).exit_code == 0
    assert store.principal(second) is None


def test_demo_tokens_are_one_per_role(database: LedgerApplication) -> None:
    tokens = TokenStore.of(database).create_demo_tokens()
    store = TokenStore.of(database)
    principals = [store.principal(t) for t in tokens.values()]
    assert [p.role if p else None for p in principals] == list(tokens)
    assert len(tokens) == 6  # one per role of DESIGN §9; `admin` is retired (docs/roles.md)


def test_import_contributions_reports_every_row_and_resumes(
    database: LedgerApplication, tmp_path: Path
) -> None:
    path = tmp_path / "q2.csv"
    path.write_text(HEADER
                    + "C1,2026-04-02,1000.00,0,0,,CORE,Q2-1\n"
                    + "C2,2026-04-03,2000,0,0,10,CORE,Q2-2\n"
                    + "C9,2026-04-03,1,0,0,,CORE,Q2-3\n"
                    + "C3,not-a-date,1,0,0,,CORE,Q2-4\n", encoding="utf-8")
    before = database.recorder.max_notification_id()
    runner = CliRunner()
    first = runner.invoke(import_, ["contributions", str(path), "--batch-size", "2"])
    assert first.exit_code == 1  # two rows were refused
    rows = list(csv.DictReader(io.StringIO(first.stdout)))
    assert [(r["row"], r["status"]) for r in rows] == [
        ("1", "created"), ("2", "created"), ("3", "invalid"), ("4", "invalid")]
    assert "booked_on" in rows[3]["errors"]
    assert database.recorder.max_notification_id() == before + 2
    # Running the same file again appends nothing: the imported rows are duplicates now.
    again = runner.invoke(import_, ["contributions", str(path)])
    assert [r["status"] for r in csv.DictReader(io.StringIO(again.stdout))][:2] == [
        "duplicate", "duplicate"]
    assert database.recorder.max_notification_id() == before + 2
    # The events name the operator who ran the import, and the rows' source keys.
    posted, _ = database.history(contribution_id("CORE", "Q2-1"))[0]
    assert (posted.role, posted.source_system) == ("operator", "CORE")


def test_import_refuses_a_file_with_unknown_or_missing_columns(
    database: LedgerApplication, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("customer_id,amount\nC1,5\n", encoding="utf-8")
    result = CliRunner().invoke(import_, ["contributions", str(path)])
    assert result.exit_code == 2 and "unknown ['amount']" in result.output
