"""Hazardous work (seed 002): the certificate each hazard needs, valid on the job's day.

One table for both checks: dispatch eligibility (`backend.geo.eligibility`) and the on-site safety
checklist's certificate refusal (`backend.onsite.service`, through the checklist templates)."""

from __future__ import annotations

from backend.accounts.technicians import CertificateType
from backend.work_orders.models import Hazard

CERTIFICATE_FOR_HAZARD: dict[str, str] = {
    Hazard.ELECTRICAL: CertificateType.ELECTRICIAN,
    Hazard.GAS: CertificateType.GAS,
    Hazard.HEIGHT: CertificateType.HEIGHT,
}
