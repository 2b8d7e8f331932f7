"""Money rules, written down once. Every amount is an integer number of fen (1 yuan = 100 fen).

Rules:
1. Amounts are never floats: inputs are integers (a fraction of a fen is refused at the API), and
   every computation below is integer arithmetic.
2. A line's amount is `quantity × unit_price_fen` (exact); a line covered by warranty is 0.
3. A percentage is given in basis points (1 bp = 0.01 %) and rounds half up to the fen:
   `(amount × bp + 5_000) // 10_000`. 15 % of 333 fen = 49.95 → 50 fen; of 330 fen = 49.5 → 50 fen.
4. A contract discount is applied once, to the sum of the chargeable (non-covered) lines, as one
   discount line; never per line (that would round many times) and never on top of a quote's discount.
5. Totals: `total = labour + parts + travel − discount`, never below zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

BASIS_POINTS = 10_000

ChargeKind = Literal["labour", "part", "travel", "discount"]


def basis_points_of(amount_fen: int, bp: int) -> int:
    """`bp` basis points of a non-negative amount, rounded half up to the fen (rule 3)."""
    if amount_fen < 0 or bp < 0:
        raise ValueError("amounts and rates are non-negative here")
    return (amount_fen * bp + BASIS_POINTS // 2) // BASIS_POINTS


def yuan_text(fen: int) -> str:
    """An amount for people to read, in yuan with two decimals ("-12.05"), by integer arithmetic."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def line_amount(quantity: int, unit_price_fen: int, *, covered: bool = False) -> int:
    """What the customer pays for one line (rule 2)."""
    return 0 if covered else quantity * unit_price_fen


@dataclass(frozen=True)
class ChargeLine:
    kind: ChargeKind
    description: str
    quantity: int
    unit_price_fen: int
    amount_fen: int  # what the customer pays: 0 when covered, negative for the discount line
    covered_by_warranty: bool = False


@dataclass(frozen=True)
class JobCharges:
    """Itemized charges and totals. Category totals are what is charged (covered lines count 0);
    `discount_fen` is positive and appears as one negative `discount` line."""

    lines: list[ChargeLine]
    labour_fen: int
    parts_fen: int
    travel_fen: int
    discount_fen: int
    total_fen: int

    @property
    def covered_fen(self) -> int:
        """What warranty pays: the list price of the covered lines."""
        return sum(line.quantity * line.unit_price_fen for line in self.lines if line.covered_by_warranty)


def total_charges(lines: list[ChargeLine], *, discount_bp: int = 0) -> JobCharges:
    """Add up priced lines and apply the contract discount once (rules 4 and 5)."""
    by_kind = {kind: sum(line.amount_fen for line in lines if line.kind == kind) for kind in _PRICED}
    subtotal = sum(by_kind.values())
    discount = min(basis_points_of(subtotal, discount_bp), subtotal) if discount_bp else 0
    all_lines = list(lines)
    if discount:
        all_lines.append(
            ChargeLine(
                kind="discount",
                description=f"合同客户折扣 {discount_bp / 100:g}%",
                quantity=1,
                unit_price_fen=-discount,
                amount_fen=-discount,
            )
        )
    return JobCharges(
        lines=all_lines,
        labour_fen=by_kind["labour"],
        parts_fen=by_kind["part"],
        travel_fen=by_kind["travel"],
        discount_fen=discount,
        total_fen=subtotal - discount,
    )


_PRICED: tuple[ChargeKind, ...] = ("labour", "part", "travel")
