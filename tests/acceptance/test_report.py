"""The service report PDF: Chinese text, parts, fees, the signature; only for the customer and staff."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont
from PIL import Image
from reportlab.pdfbase import pdfmetrics

from backend.acceptance import cjk_font
from tests import factories
from tests.acceptance.test_acceptance import _completed_job, _sign, _summary


def _signed_job(client, db, auth, push, job, technician, **kwargs):
    order = _completed_job(db, push, job, technician, **kwargs)
    part = factories.PartFactory(sku="CAP-35UF", name="压缩机启动电容 35μF", unit_price_fen=3500)
    push(
        technician,
        "parts.consume",
        {"id": "use-9", "work_order_id": order.id, "sku": part.sku, "quantity": 1},
    )
    _sign(push, technician, order, _summary(client, auth, technician.user, order)["summary_sha256"])
    return order


def test_customer_downloads_a_chinese_service_report_that_renders(
    client, db, auth, push, job, technician, tmp_path
):
    order = _signed_job(client, db, auth, push, job, technician)
    resp = client.get(f"/work-orders/{order.id}/report.pdf", headers=auth(order.customer.user))
    assert resp.status_code == 200
    assert resp.mimetype == "application/pdf"
    assert resp.data.startswith(b"%PDF")
    if not shutil.which("pdftoppm") or not shutil.which("pdftotext"):
        pytest.skip("poppler-utils (pdftoppm, pdftotext) is not installed: apt-get install -y poppler-utils")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(resp.data)
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True, text=True
    ).stdout
    for expected in (
        "维修服务报告",
        order.number,
        "启动电容老化",
        "压缩机启动电容",
        "张女士",
        "验收通过",
        "acc-1",
    ):
        assert expected in text, expected
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")], check=True
    )
    page = next(tmp_path.glob("page*.png"))
    gray = Image.open(page).convert("L")
    dark = sum(gray.histogram()[:128])  # pixels darker than mid-grey
    assert dark > 0.01 * gray.width * gray.height  # text, tables and the signature: not a blank page
    if os.environ.get("REPORT_PNG_OUT"):
        shutil.copy(page, Path(os.environ["REPORT_PNG_OUT"]))


def test_the_report_is_not_for_other_customers_or_technicians(client, db, auth, push, job, technician):
    order = _signed_job(client, db, auth, push, job, technician)
    stranger = factories.CustomerFactory().user
    other = client.get(f"/work-orders/{order.id}/report.pdf", headers=auth(stranger))
    assert other.status_code == 404 and other.json["code"] == "work_order.not_found"
    assert client.get(f"/work-orders/{order.id}/report.pdf", headers=auth(technician.user)).status_code == 403
    desk = factories.UserFactory(role="customer_service")
    assert client.get(f"/work-orders/{order.id}/report.pdf", headers=auth(desk)).status_code == 200


def _poppler(tool: str, *args: str) -> str:
    if not shutil.which(tool):
        pytest.skip(f"poppler-utils ({tool}) is not installed: apt-get install -y poppler-utils")
    return subprocess.run([tool, *args], capture_output=True, check=True, text=True).stdout


def test_every_printed_character_has_a_glyph_in_the_embedded_open_licence_font(
    client, db, auth, push, job, technician, tmp_path
):
    """Rare name characters (堃, 喆) print as real glyphs of the embedded Noto Sans CJK subset."""
    customer = factories.CustomerFactory(name="欧阳堃")
    order = _signed_job(client, db, auth, push, job, technician, customer=customer)
    order.fault_description = "王喆家的空调外机不转"
    db.commit()
    resp = client.get(f"/work-orders/{order.id}/report.pdf", headers=auth(customer.user))
    assert resp.status_code == 200
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(resp.data)

    embedded = {
        line.split()[0].split("+", 1)[-1]
        for line in _poppler("pdffonts", str(pdf)).splitlines()[2:]
        if line.split()[0] != "Helvetica"  # reportlab's initial page font; no text is set in it
    }
    assert len(embedded) == 1 and next(iter(embedded)).startswith(cjk_font.FONT_PREFIX), embedded
    font = pdfmetrics.getFont(next(iter(embedded)))
    text = _poppler("pdftotext", str(pdf), "-")
    assert "欧阳堃" in text and "王喆家的空调外机不转" in text
    missing = {c for c in text if not c.isspace() and font.face.charToGlyph.get(ord(c), 0) == 0}
    assert missing == set()


def test_the_font_subset_has_truetype_outlines_and_carries_the_open_font_licence():
    data = cjk_font.truetype_subset("维修报告堃A", "RepairOpsCJK-test")
    font = TTFont(io.BytesIO(data))
    assert "glyf" in font and "CFF " not in font
    assert font["name"].getDebugName(6) == "RepairOpsCJK-test"
    assert "SIL Open Font License" in font["name"].getDebugName(13)
    cmap = font.getBestCmap()
    glyf = font["glyf"]
    for char in "维修报告堃A":
        glyph = glyf[cmap[ord(char)]]
        assert glyph.numberOfContours > 0, char  # drawn, not an empty glyph
    assert len(font.getGlyphOrder()) < 120  # the subset: printable ASCII, the six characters, .notdef


def test_subsets_are_cached_by_character_set_and_old_ones_unregistered_unless_in_use():
    with cjk_font.cjk_font("维修") as first, cjk_font.cjk_font("修维") as same:
        assert first == same
        for n in range(cjk_font.CACHE_SIZE + 3):
            with cjk_font.cjk_font(chr(0x4E00 + n)) as name:
                assert pdfmetrics.getFont(name).face.charToGlyph[0x4E00 + n] != 0
        # Still in use above: never unregistered while a render holds it.
        assert pdfmetrics.getFont(first).fontName == first
    assert cjk_font.registered_fonts()[0] == first  # the least recently used, released now
    with cjk_font.cjk_font("报告"):
        pass
    registered = cjk_font.registered_fonts()
    assert len(registered) == cjk_font.CACHE_SIZE and first not in registered
    ours = [n for n in pdfmetrics.getRegisteredFontNames() if n.startswith(cjk_font.FONT_PREFIX)]
    assert sorted(ours) == sorted(registered)
    with pytest.raises(KeyError):
        pdfmetrics.getFont(first)
