"""DESIGN §14 through the API, on SQLite and PostgreSQL: the §4 example's pay list (JSON
and CSV) and rankings, and signed statements that verify, that do not once altered, and
that still verify at their position after a later correction while reporting the change."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pypdf
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from persistence.head import generate_key
from projections.statement_pdf import ATTACHMENT, read
from projections.statements import signed

if TYPE_CHECKING:
    from conftest import Harness

PERIOD = "2026Q1"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def bank(request: pytest.FixtureRequest, tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Harness:
    """The §4 example (M1 with its deductions, M2 in the same unit), on both back ends.
    PostgreSQL has no default statement key (DESIGN §10), so the test names one."""
    if request.param == "postgres":
        key = tmp_path / "statement.pem"
        generate_key(key)
        monkeypatch.setenv("LEDGER_STATEMENT_KEY", str(key))
    else:
        monkeypatch.delenv("LEDGER_STATEMENT_KEY", raising=False)
    harness: Harness = request.getfixturevalue(f"{request.param}_harness")
    harness.register_worked_example()
    harness.ids = harness.record_worked_example_deductions()  # type: ignore[attr-defined]
    harness.stop_clock_on(__import__("datetime").date(2026, 4, 10))
    return harness


def test_the_pay_list_of_the_worked_example_has_its_figures_and_totals(bank: Harness) -> None:
    body = bank.ok(bank.get("/reports/pay-list", "approver", period=PERIOD, unit="Branch 1"))
    rows = {r["manager_id"]: r for r in body["items"]}
    assert rows["M1"]["actual_pay"] == "32365.00"
    assert rows["M1"]["performance_pay"] == "7250.00"
    assert rows["M1"]["score"] == 740
    assert rows["M1"]["grade"] == "B"
    assert rows["M2"]["actual_pay"] == "36000.00"  # grade A, no postings, full score
    assert body["totals"]["actual_pay"] == "68365.00"
    assert body["totals"]["payable"] == "68365.00"
    assert body["frozen"] is False
    page = bank.ok(bank.get("/reports/pay-list", "approver", period=PERIOD, limit=1))
    assert [r["manager_id"] for r in page["items"]] == ["M1"]
    assert page["next_offset"] == 1
    assert page["totals"]["actual_pay"] == "68365.00"


def test_the_pay_list_as_csv_opens_with_a_bom_and_keeps_chinese_names(bank: Harness) -> None:
    bank.ok(bank.post("/managers", {"id": "M3", "name": "王小明", "grade": "C",
                                    "unit": "Branch 1"}, "supervisor"), 201)
    response = bank.client.get("/api/v1/reports/pay-list", query_string={"period": PERIOD},
                               headers=bank.headers("auditor", Accept="text/csv"))
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == ["manager_id", "name", "grade"]
    by_id = {r[0]: r for r in rows[1:]}
    assert by_id["M3"][1] == "王小明"
    assert by_id["M1"][8] == "32365.00"
    assert by_id["total"][8] == "89365.00"


def test_rankings_put_the_highest_first_and_ties_share_a_rank_in_manager_id_order(
    bank: Harness,
) -> None:
    bank.ok(bank.post("/managers", {"id": "M0", "name": "Tie", "grade": "C",
                                    "unit": "Branch 1"}, "supervisor"), 201)
    body = bank.ok(bank.get("/reports/rankings", "supervisor", period=PERIOD, by="score"))
    assert [(i["rank"], i["manager_id"], i["value"]) for i in body["items"]] == [
        (1, "M0", "1000"), (1, "M2", "1000"), (3, "M1", "740")]
    pay = bank.ok(bank.get("/reports/rankings", "approver", period=PERIOD, by="actual_pay"))
    assert [i["manager_id"] for i in pay["items"]] == ["M2", "M1", "M0"]
    done = bank.ok(bank.get("/reports/rankings", "auditor", period=PERIOD,
                            by="profit_completion"))
    assert done["items"][0] == {"rank": 1, "manager_id": "M1", "name": "Li Wei",
                                "value": "1.0526"}


def statement(bank: Harness, who: str = "m1") -> tuple[bytes, dict[str, Any]]:
    pdf = bank.client.get("/api/v1/managers/M1/statement", query_string={"period": PERIOD},
                          headers=bank.headers(who))
    assert pdf.status_code == 200, pdf.get_data(as_text=True)
    assert pdf.mimetype == "application/pdf"
    envelope = bank.ok(bank.get("/managers/M1/statement.json", who, period=PERIOD))
    return pdf.get_data(), envelope


def verified(bank: Harness, document: bytes) -> dict[str, Any]:
    response = bank.client.post(
        "/api/v1/audit/statements/verify", headers=bank.headers("auditor"),
        data={"file": (io.BytesIO(document), "statement.pdf")})
    return dict(bank.ok(response))


def test_a_statement_verifies_and_its_pdf_shows_chinese_text(bank: Harness) -> None:
    bank.ok(bank.post("/managers", {"id": "M9", "name": "张伟", "grade": "B",
                                    "unit": "Branch 1"}, "supervisor"), 201)
    document, envelope = statement(bank)
    figures = envelope["statement"]["figures"]
    assert (figures["actual_pay"], figures["score"]) == ("32365.00", 740)
    assert len(envelope["statement"]["deductions"]) == 3
    assert envelope["statement"]["ruleset_version"] == "2026.1"
    assert verified(bank, document)["ok"] is True
    assert verified(bank, json.dumps(envelope).encode())["ok"] is True
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(document)).pages)
    assert "薪酬结算单" in text and "实发薪酬 actual_pay: 32365.00" in text
    chinese = bank.client.get("/api/v1/managers/M9/statement", query_string={"period": PERIOD},
                              headers=bank.headers("approver")).get_data()
    assert "张伟" in pypdf.PdfReader(io.BytesIO(chinese)).pages[0].extract_text()


def test_a_statement_whose_signed_figures_were_altered_does_not_verify(
    bank: Harness,
) -> None:
    document, envelope = statement(bank, "auditor")
    altered = json.loads(json.dumps(envelope))
    altered["statement"]["figures"]["actual_pay"] = "42365.00"
    answer = verified(bank, json.dumps(altered).encode())
    assert answer["ok"] is False and answer["signature"] is False
    assert [d["path"] for d in answer["differences"]] == ["figures.actual_pay"]
    # The PDF: its embedded JSON altered, and signed again by a key nobody trusts.
    resigned = signed(altered["statement"], Ed25519PrivateKey.generate())
    writer = pypdf.PdfWriter()
    for page in pypdf.PdfReader(io.BytesIO(document)).pages:  # the same page, new JSON
        writer.add_page(page)
    writer.add_attachment(ATTACHMENT, json.dumps(resigned).encode())
    out = io.BytesIO()
    writer.write(out)
    assert read(out.getvalue())[0]["statement"]["figures"]["actual_pay"] == "42365.00"
    answer = verified(bank, out.getvalue())
    assert answer["ok"] is False and answer["signature"] is False
    assert answer["misprinted"] == ["actual_pay"]


def test_a_statement_issued_before_a_later_correction_still_verifies_and_says_what_changed(
    bank: Harness,
) -> None:
    document, _ = statement(bank)
    dispute = bank.ok(bank.post(f"/deductions/{bank.ids['S3']}/disputes",  # type: ignore[attr-defined]
                                {"reason": "not mine"}, "m1"), 201)
    bank.ok(bank.post(f"/disputes/{dispute['id']}/decision",
                      {"outcome": "upheld", "reason": "agreed"}, "reviewer"))
    answer = verified(bank, document)
    assert answer["ok"] is True, answer
    changed = {c["figure"]: (c["statement"], c["now"]) for c in answer["changed_since"]}
    assert changed["actual_pay"] == ("32365.00", "33815.00")
    assert changed["score"] == (740, 940)
    later = bank.ok(bank.get("/managers/M1/statement.json", "m1", period=PERIOD))
    assert later["statement"]["disputes"][0]["outcome"] == "upheld"


def test_a_manager_gets_only_their_own_statement(bank: Harness) -> None:
    response = bank.client.get("/api/v1/managers/M1/statement.json",
                               query_string={"period": PERIOD}, headers=bank.headers("m2"))
    assert response.status_code == 403


def test_a_closed_period_lists_its_frozen_pay_and_known_at_cuts_the_log(bank: Harness) -> None:
    bank.ok(bank.post(f"/periods/{PERIOD}/close", {"reason": "quarter end"}, "approver"))
    before = bank.ok(bank.get("/reports/pay-list", "auditor", period=PERIOD))
    dispute = bank.ok(bank.post(f"/deductions/{bank.ids['S3']}/disputes",  # type: ignore[attr-defined]
                                {"reason": "not mine"}, "m1"), 201)
    bank.ok(bank.post(f"/disputes/{dispute['id']}/decision",
                      {"outcome": "upheld", "reason": "agreed"}, "reviewer"))
    after = bank.ok(bank.get("/reports/pay-list", "auditor", period=PERIOD))
    assert after["frozen"] is True
    rows = {r["manager_id"]: r for r in after["items"]}
    assert (rows["M1"]["actual_pay"], rows["M1"]["score"]) == ("32365.00", 740)
    assert after["totals"] == before["totals"]
    ranked = bank.ok(bank.get("/reports/rankings", "supervisor", period=PERIOD))
    assert [i["value"] for i in ranked["items"]] == ["1000", "740"]
    then = bank.ok(bank.get("/reports/pay-list", "auditor", period=PERIOD,
                            known_at=before["known_at"]))
    assert then["position"] == before["position"] < after["position"]
