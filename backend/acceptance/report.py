"""The service report PDF (维修服务报告) handed to the customer: the job, the device, the work done,
parts and fees, photos, the signatures and their seals.

Chinese text uses Noto Sans CJK SC (SIL Open Font License), embedded as a TrueType subset of exactly
the characters the report prints (see backend.acceptance.cjk_font).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reportlab.graphics.shapes import Drawing, PolyLine, Rect
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from backend.acceptance.cjk_font import cjk_font
from backend.acceptance.models import Acceptance
from backend.accounts.customers import Customer, Product
from backend.kernel.china_time import CHINA_TZ
from backend.onsite.models import ServiceRecord
from backend.parts.billing import JobCharges, PartUse
from backend.parts.money import yuan_text
from backend.work_orders.models import WorkOrder
from backend.work_orders.states import CUSTOMER_LABELS, Status

# Font of the first pass, which only collects the text the report prints (always registered).
PROBE_FONT = "Helvetica"
SIGNER_ROLES = {"customer": "客户", "guardian": "监护人", "technician": "维修人员", "witness": "见证人"}
OUTCOMES = {"accept": "验收通过", "reject": "验收不通过"}
SIGNATURE_BOX = (60 * mm, 22 * mm)


@dataclass
class ReportInput:
    order: WorkOrder
    customer: Customer
    product: Product | None
    address_text: str | None
    technician_name: str | None
    record: ServiceRecord | None
    parts: list[PartUse]
    charges: JobCharges
    acceptances: list[Acceptance]
    # Image bytes by attachment id (signature images, photo thumbnails) as far as they arrived.
    images: dict[str, bytes] = field(default_factory=dict)
    photo_ids: list[str] = field(default_factory=list)
    verify_url: Callable[[str], str] | None = None


def yuan(fen: int) -> str:
    return f"{yuan_text(fen)} 元"


def masked_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 11 else phone


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=font, fontSize=10, leading=14, wordWrap="CJK")
    return {
        "base": base,
        "title": ParagraphStyle("title", parent=base, fontSize=18, leading=24, alignment=1, spaceAfter=6),
        "h2": ParagraphStyle("h2", parent=base, fontSize=12, leading=18, spaceBefore=8, spaceAfter=4),
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=11, textColor=colors.grey),
    }


def _table(rows: list[list[Any]], widths: list[float], font: str, header: bool = True) -> Table:
    table = Table(rows, colWidths=widths, hAlign="LEFT")
    style = [
        ("FONTNAME", (0, 0), (-1, -1), font),
        ("FONTSIZE", (0, 0), (-1, -1), 9),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef7")))
    table.setStyle(TableStyle(style))
    return table


def strokes_drawing(strokes: list[Any]) -> Drawing:
    """The signature as drawn on the device (integer pixel strokes), scaled into the signature box."""
    width, height = SIGNATURE_BOX
    drawing = Drawing(width, height)
    drawing.add(Rect(0, 0, width, height, strokeColor=colors.lightgrey, fillColor=None, strokeWidth=0.5))
    points = [(p[0], p[1]) for stroke in strokes for p in stroke]
    if not points:
        return drawing
    min_x, max_x = min(p[0] for p in points), max(p[0] for p in points)
    min_y, max_y = min(p[1] for p in points), max(p[1] for p in points)
    scale = min((width - 8) / max(max_x - min_x, 1), (height - 8) / max(max_y - min_y, 1))
    for stroke in strokes:
        # Device y grows downwards, PDF y upwards.
        coords = [
            v for p in stroke for v in (4 + (p[0] - min_x) * scale, height - 4 - (p[1] - min_y) * scale)
        ]
        if len(coords) == 2:
            coords += [coords[0] + 0.5, coords[1]]
        drawing.add(PolyLine(coords, strokeColor=colors.black, strokeWidth=1.2))
    return drawing


def _signature(acceptance: Acceptance, images: dict[str, bytes]) -> Flowable:
    data = images.get(acceptance.signature_attachment_id or "")
    if data:
        width, height = SIGNATURE_BOX
        image = Image(io.BytesIO(data))
        ratio = min(width / image.imageWidth, height / image.imageHeight)
        image.drawWidth, image.drawHeight = image.imageWidth * ratio, image.imageHeight * ratio
        return image
    return strokes_drawing(acceptance.strokes)


def _work_done(data: ReportInput, st: dict[str, ParagraphStyle], font: str) -> list[Flowable]:
    out: list[Flowable] = [Paragraph("维修内容", st["h2"])]
    record = data.record
    if record is None:
        return [*out, Paragraph("（尚无维修记录）", st["base"])]
    out += [
        Paragraph(f"故障原因：{record.cause}", st["base"]),
        Paragraph(f"处理方法：{record.method}", st["base"]),
    ]
    out += [Paragraph(f"{n}. {item}", st["base"]) for n, item in enumerate(record.items_done, 1)]
    if record.function_tests:
        out.append(Paragraph("功能测试", st["h2"]))
        rows = [["项目", "结果", "读数"]] + [
            [t["name"], "合格" if t["passed"] else "不合格", t.get("reading") or ""]
            for t in record.function_tests
        ]
        out.append(_table(rows, [80 * mm, 25 * mm, 60 * mm], font))
    if record.findings:
        out.append(Paragraph("现场新发现的问题", st["h2"]))
        out += [Paragraph(f"{n}. {f['description']}", st["base"]) for n, f in enumerate(record.findings, 1)]
    return out


def _parts_and_fees(data: ReportInput, st: dict[str, ParagraphStyle], font: str) -> list[Flowable]:
    out: list[Flowable] = [Paragraph("更换配件", st["h2"])]
    if data.parts:
        rows = [["配件", "编号", "序列号", "数量", "单价", "保修"]] + [
            [
                Paragraph(p.name, st["base"]),
                p.sku,
                p.serial or "",
                str(p.quantity),
                yuan(p.unit_price_fen),
                f"{p.warranty_months} 个月" + ("（保内）" if p.covered_by_warranty else ""),
            ]
            for p in data.parts
        ]
        out.append(_table(rows, [50 * mm, 25 * mm, 30 * mm, 12 * mm, 22 * mm, 30 * mm], font))
    else:
        out.append(Paragraph("（未更换配件）", st["base"]))
    out.append(Paragraph("费用", st["h2"]))
    rows = [["项目", "数量", "单价", "金额"]] + [
        [
            Paragraph(line.description, st["base"]),
            str(line.quantity),
            yuan(line.unit_price_fen),
            yuan(line.amount_fen),
        ]
        for line in data.charges.lines
    ]
    rows.append(["合计", "", "", yuan(data.charges.total_fen)])
    out.append(_table(rows, [95 * mm, 15 * mm, 30 * mm, 30 * mm], font))
    return out


def _photos(data: ReportInput, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    thumbs = [data.images[i] for i in data.photo_ids if i in data.images]
    if not thumbs:
        return []
    cells = []
    for blob in thumbs[:12]:
        image = Image(io.BytesIO(blob))
        ratio = min(40 * mm / image.imageWidth, 40 * mm / image.imageHeight)
        image.drawWidth, image.drawHeight = image.imageWidth * ratio, image.imageHeight * ratio
        cells.append(image)
    rows = [cells[i : i + 4] for i in range(0, len(cells), 4)]
    return [Paragraph("现场照片", st["h2"]), Table(rows, hAlign="LEFT")]


def _signatures(data: ReportInput, st: dict[str, ParagraphStyle], font: str) -> list[Flowable]:
    out: list[Flowable] = [Paragraph("验收签名", st["h2"])]
    sealed = [a for a in data.acceptances if a.seal]
    if not sealed:
        return [*out, Paragraph("（尚未签名验收）", st["base"])]
    rows: list[list[Any]] = [["签名人", "签名", "结果", "封印"]]
    for acceptance in sealed:
        signed_at = (acceptance.device_time or acceptance.recorded_at).astimezone(CHINA_TZ)
        who = f"{acceptance.signer_name}\n{SIGNER_ROLES.get(acceptance.signer_role, acceptance.signer_role)}"
        if acceptance.signer_relation:
            who += f"（{acceptance.signer_relation}）"
        outcome = OUTCOMES.get(acceptance.outcome, acceptance.outcome)
        if acceptance.reason:
            outcome += f"\n{acceptance.reason}"
        seal = f"{acceptance.id}\n{(acceptance.seal or '')[:16]}…\n{signed_at:%Y-%m-%d %H:%M}"
        rows.append(
            [
                Paragraph(who.replace("\n", "<br/>"), st["base"]),
                _signature(acceptance, data.images),
                Paragraph(outcome.replace("\n", "<br/>"), st["base"]),
                Paragraph(seal.replace("\n", "<br/>"), st["small"]),
            ]
        )
    out.append(_table(rows, [30 * mm, 64 * mm, 30 * mm, 46 * mm], font))
    if data.verify_url:
        out.append(Paragraph(f"验证封印：{data.verify_url(sealed[0].id)}", st["small"]))
    return out


def render_service_report(data: ReportInput) -> bytes:
    # The story is built twice: once to learn which characters it prints, then with the font subset
    # made for exactly those characters.
    with cjk_font(printed_text(_story(data, PROBE_FONT))) as font:
        story = _story(data, font)
        buffer = io.BytesIO()
        doc = SimpleDocTemplate(
            buffer,
            pagesize=A4,
            leftMargin=18 * mm,
            rightMargin=18 * mm,
            topMargin=16 * mm,
            bottomMargin=16 * mm,
            title=f"维修服务报告 {data.order.number}",
            author="RepairOps",
        )
        doc.build(story)
    return buffer.getvalue()


def printed_text(flowables: list[Any]) -> str:
    """All text of paragraphs and table cells (nested to any depth) in `flowables`."""
    parts: list[str] = []
    stack: list[Any] = list(flowables)
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
        elif isinstance(item, Paragraph):
            parts.append(item.getPlainText())
        elif isinstance(item, Table):
            stack.extend(cell for row in item._cellvalues for cell in row)
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return "".join(parts)


def _story(data: ReportInput, font: str) -> list[Flowable]:
    st = _styles(font)
    order = data.order
    product = data.product
    head = [
        ["工单号", order.number, "状态", CUSTOMER_LABELS[Status(order.status)]],
        ["客户", data.customer.name, "电话", masked_phone(data.customer.phone)],
        ["地址", Paragraph(data.address_text or "", st["base"]), "维修人员", data.technician_name or ""],
        [
            "设备",
            Paragraph(
                f"{product.brand or ''} {product.model}" if product else order.product_category, st["base"]
            ),
            "序列号",
            (product.serial or "") if product else "",
        ],
        ["故障描述", Paragraph(order.fault_description, st["base"]), "完成时间", _local(order.completed_at)],
    ]
    return [
        Paragraph("维修服务报告", st["title"]),
        _table(head, [22 * mm, 70 * mm, 22 * mm, 56 * mm], font, header=False),
        *_work_done(data, st, font),
        *_parts_and_fees(data, st, font),
        *_photos(data, st),
        *_signatures(data, st, font),
        Spacer(1, 6 * mm),
        Paragraph(
            "本报告由系统生成；签名与验收单内容经服务器封印，可凭封印编号验证是否被篡改。", st["small"]
        ),
    ]


def _local(moment: Any) -> str:
    return "" if moment is None else moment.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")
