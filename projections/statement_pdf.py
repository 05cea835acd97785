"""A signed statement as a PDF (DESIGN §14): reportlab draws the page, pypdf embeds the
signed JSON as the attachment `statement.json` and reads both back for verification.

Chinese text renders with reportlab's built-in CID font STSong-Light (Adobe's Asian font
pack names it; readers supply the glyphs), so no system font has to be installed for the
service or for CI. Each figure is printed as `name: value` on a line of its own, which is
how `printed_figures_match` finds the printed figures again to compare with the signed ones.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pypdf
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from ledger.errors import InvalidInput
from projections.read_side import ReadSide
from projections.statements import FIGURES, verify_statement

FONT = "STSong-Light"
ATTACHMENT = "statement.json"
LINE_HEIGHT = 14
MARGIN = 50
MAX_LINE_CHARS = 90
LABELS = {
    "base_salary": "基本工资", "stock_task": "存量任务", "incremental_task": "增量任务",
    "target": "目标", "actual": "实际贡献", "performance_pay": "绩效工资", "score": "管理得分",
    "rating": "评级", "error_points": "差错积分", "adjustment_points": "调整分",
    "disqualified": "取消资格", "actual_pay": "实发薪酬",
    "prior_period_adjustment_total": "以前期间调整", "payable": "应付", "frozen": "已冻结",
}


def render(envelope: dict[str, Any]) -> bytes:
    """The PDF of a signed statement, with the envelope embedded as statement.json."""
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    drawn = io.BytesIO()
    canvas = Canvas(drawn, pagesize=A4, invariant=True)
    canvas.setTitle(f"薪酬结算单 {envelope['statement']['manager']['id']} "
                    f"{envelope['statement']['period']}")
    y = A4[1] - MARGIN
    canvas.setFont(FONT, 10)
    for line in _lines(envelope):
        if y < MARGIN:
            canvas.showPage()
            canvas.setFont(FONT, 10)
            y = A4[1] - MARGIN
        canvas.drawString(MARGIN, y, line)
        y -= LINE_HEIGHT
    canvas.save()
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(drawn.getvalue())))
    writer.add_attachment(ATTACHMENT, json.dumps(envelope, ensure_ascii=False,
                                                 indent=1).encode("utf-8"))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _lines(envelope: dict[str, Any]) -> Iterator[str]:
    body = envelope["statement"]
    manager = body["manager"]
    yield f"薪酬结算单 Pay statement  {body['period']}"
    yield f"客户经理 manager: {manager['id']} {manager['name']}  单位 unit: {manager['unit']}"
    yield f"等级 grade: {manager['grade']}  as_of: {body['as_of']}"
    yield f"规则版本 ruleset_version: {body['ruleset_version']}"
    yield ""
    for name in FIGURES:
        yield f"{LABELS[name]} {name}: {_shown(body['figures'][name])}"
    yield ""
    yield "扣分明细 deductions"
    for d in body["deductions"]:
        yield (f"  {d.get('rule_code')} x{d.get('occurrences')} effect {d.get('effect')} "
               f"status {d.get('status')} position {d.get('position')}")
    yield "申诉 disputes"
    for d in body["disputes"]:
        yield f"  {d['dispute_id']} status {d['status']} outcome {d['outcome']}"
    yield "得分说明 score explanation"
    yield from _wrapped(json.dumps(body["explanation"], ensure_ascii=False, sort_keys=True))
    yield ""
    yield f"日志位置 position: {body['position']}  known_at: {body['known_at']}"
    yield f"链接 link: {body['link']}"
    yield f"签名 {envelope['algorithm']} signature:"
    yield from _wrapped(envelope["signature"])
    yield f"公钥 public_key: {envelope['public_key']}"


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value


def _wrapped(text: str) -> Iterator[str]:
    for start in range(0, len(text), MAX_LINE_CHARS):
        yield "  " + text[start:start + MAX_LINE_CHARS]


def read(document: bytes) -> tuple[dict[str, Any], str]:
    """The embedded envelope and the text printed on the pages of a statement PDF."""
    try:
        reader = pypdf.PdfReader(io.BytesIO(document))
        attached = reader.attachments.get(ATTACHMENT)
        text = "\n".join(page.extract_text() for page in reader.pages)
    except pypdf.errors.PyPdfError as error:
        raise InvalidInput({"file": [f"not a readable PDF: {error}"]}) from error
    if not attached:
        raise InvalidInput({"file": [f"the PDF carries no {ATTACHMENT}"]})
    return dict(json.loads(attached[0])), text


def printed_figures_match(envelope: dict[str, Any], text: str) -> list[str]:
    """The figures whose printed line differs from the signed value (none: they match)."""
    printed = {line.strip() for line in text.splitlines()}
    figures = envelope["statement"]["figures"]
    return [name for name in FIGURES
            if f"{LABELS[name]} {name}: {_shown(figures[name])}" not in printed]


def verify_document(
    read_side: ReadSide, document: bytes, trusted: Ed25519PublicKey
) -> dict[str, Any]:
    """Verifies a statement given as its PDF or as its statement.json; for a PDF also
    that the figures printed on the page are the signed ones."""
    if document.startswith(b"%PDF"):
        envelope, text = read(document)
        misprinted = printed_figures_match(envelope, text)
    else:
        try:
            envelope, misprinted = dict(json.loads(document)), []
        except (ValueError, TypeError) as error:
            raise InvalidInput({"file": ["neither a PDF nor statement JSON"]}) from error
    answer = verify_statement(read_side, envelope, trusted)
    answer["misprinted"] = misprinted
    answer["ok"] = answer["ok"] and not misprinted
    return answer
