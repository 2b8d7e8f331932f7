"""Which dispatch notices a caller reads: those addressed to them and those addressed to every dispatcher."""

from __future__ import annotations

import sqlalchemy as sa

from backend.geo.models import DispatchNotification
from backend.policy import Principal


def visible_notifications(principal: Principal) -> sa.ColumnElement[bool]:
    return sa.or_(
        DispatchNotification.recipient_user_id.is_(None),
        DispatchNotification.recipient_user_id == principal.user_id,
    )
