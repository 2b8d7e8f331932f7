"""The service report PDF: Chinese text, parts, fees, the signature; only for the customer and staff."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests import factories
from tests.acceptance.test_acceptance import _completed_job, _sign, _summary


def _signed_job(client, db, auth, push, job, technician):
    order = _completed_job(db, push, job, technician)
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
