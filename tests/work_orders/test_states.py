"""The work-order state machine: every allowed move works for exactly its roles, every other one is refused.

Exhaustive over (from status, to status, role) at the service level, where the table is enforced for
every caller (HTTP, sync push, rules). Transition guards from other domains are switched off here: this
file is about the table; each guard is tested by its owner.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from backend.errors import Problem
from backend.kernel.registration import installed
from backend.kernel.roles import PARTNER_ROLE, SYSTEM_ROLE, Role
from backend.policy import Principal
from backend.work_orders import service
from backend.work_orders.models import WorkOrder, WorkOrderEvent
from backend.work_orders.states import TRANSITIONS, Status, allowed_targets, is_allowed
from tests import factories

ROLES = [r.value for r in Role] + [PARTNER_ROLE, SYSTEM_ROLE]


@pytest.fixture(autouse=True)
def _table_only(monkeypatch):
    """Other domains' preconditions (checklists, quotes, signatures) are not what this file tests."""
    monkeypatch.setattr(installed(), "transition_guards", [])


@pytest.fixture
def cast(db):
    """A technician, a customer and a partner who own the orders made by `order_in`."""
    partner, _key = factories.partner_with_key()
    return {
        "technician": factories.TechnicianFactory(),
        "customer": factories.CustomerFactory(),
        "partner": partner,
    }


def principal(role: str, cast) -> Principal:
    tech, customer = cast["technician"], cast["customer"]
    if role == Role.TECHNICIAN:
        return Principal(role=role, user_id=tech.user_id, technician_id=tech.id)
    if role == Role.CUSTOMER:
        return Principal(role=role, user_id=customer.user_id, customer_id=customer.id)
    if role == PARTNER_ROLE:
        return Principal(role=role, partner_id=cast["partner"].id)
    return Principal(role=role)


def order_in(status: Status, cast) -> WorkOrder:
    return factories.WorkOrderFactory(
        status=status, assignee=cast["technician"], customer=cast["customer"], partner_id=cast["partner"].id
    )


def events_of(db, order: WorkOrder) -> list[WorkOrderEvent]:
    return list(
        db.scalars(
            sa.select(WorkOrderEvent)
            .where(WorkOrderEvent.work_order_id == order.id)
            .order_by(WorkOrderEvent.seq)
        )
    )


def test_the_table_covers_the_issue_lifecycle():
    path = [
        Status.NEW,
        Status.ASSIGNED,
        Status.ACCEPTED,
        Status.SCHEDULED,
        Status.EN_ROUTE,
        Status.ON_SITE,
        Status.IN_REPAIR,
        Status.COMPLETED,
        Status.ACCEPTED_BY_CUSTOMER,
        Status.CLOSED,
    ]
    for frm, to in zip(path, path[1:], strict=False):
        assert (frm, to) in TRANSITIONS
    for side in (Status.AWAITING_PARTS, Status.AWAITING_APPROVAL):
        assert (Status.IN_REPAIR, side) in TRANSITIONS and (side, Status.IN_REPAIR) in TRANSITIONS
    assert (Status.ASSIGNED, Status.DECLINED) in TRANSITIONS
    assert (Status.DECLINED, Status.ASSIGNED) in TRANSITIONS
    assert (Status.COMPLETED, Status.REJECTED_BY_CUSTOMER) in TRANSITIONS
    assert (Status.REJECTED_BY_CUSTOMER, Status.REWORK) in TRANSITIONS
    reachable = {Status.NEW} | {to for _frm, to in TRANSITIONS}
    assert reachable == set(Status), "every status can be reached"
    assert not [frm for frm, _to in TRANSITIONS if frm in (Status.CLOSED, Status.CANCELLED)]


@pytest.mark.parametrize("frm", list(Status), ids=str)
def test_every_disallowed_move_from_a_status_is_a_409_naming_the_allowed_ones(db, cast, frm):
    order = order_in(frm, cast)
    version = order.version
    refused = 0
    for role in ROLES:
        actor = principal(role, cast)
        for to in Status:
            if is_allowed(frm, to, role):
                continue
            with pytest.raises(Problem) as caught:
                service.transition_work_order(session=db, order=order, to_status=to, actor=actor)
            problem = caught.value
            assert (problem.status, problem.code) == (409, "work_order.illegal_transition"), (frm, to, role)
            assert problem.extra["allowed"] == allowed_targets(frm, role)
            assert problem.extra["current_status"] == frm
            refused += 1
    db.flush()
    db.refresh(order)
    assert (order.status, order.version) == (frm, version)
    assert events_of(db, order) == []
    assert refused == len(ROLES) * len(Status) - sum(
        len(roles) for (f, _t), roles in TRANSITIONS.items() if f == frm
    )


ALLOWED = sorted(
    ((frm, to, role) for (frm, to), roles in TRANSITIONS.items() for role in roles),
    key=lambda t: (list(Status).index(t[0]), list(Status).index(t[1]), t[2]),
)


@pytest.mark.parametrize("frm", [s for s in Status if any(f == s for f, _t in TRANSITIONS)], ids=str)
def test_every_allowed_move_from_a_status_works_for_each_of_its_roles(db, cast, frm):
    for _frm, to, role in [t for t in ALLOWED if t[0] == frm]:
        order = order_in(frm, cast)
        version = order.version
        actor = principal(role, cast)
        event = service.transition_work_order(
            session=db, order=order, to_status=to, actor=actor, reason="by the table"
        )
        db.flush()
        db.refresh(order)
        assert order.status == to, (frm, to, role)
        assert order.version == version + 1, "every transition bumps the version"
        history = events_of(db, order)
        assert history == [event]
        assert (event.kind, event.from_status, event.to_status, event.actor_role, event.seq) == (
            "status",
            frm,
            to,
            role,
            1,
        )
        assert event.message == "by the table"
        if to == Status.DECLINED:
            assert order.assignee_id is None, "a declined order goes back to the queue"
        if to == Status.COMPLETED:
            assert order.completed_at is not None
        if to == Status.CLOSED:
            assert order.closed_at is not None


def test_an_order_cannot_become_assigned_without_a_technician(db, cast):
    order = factories.WorkOrderFactory(status=Status.NEW, customer=cast["customer"])
    with pytest.raises(Problem) as caught:
        service.transition_work_order(
            session=db, order=order, to_status=Status.ASSIGNED, actor=Principal(role=Role.DISPATCHER)
        )
    assert caught.value.code == "work_order.assignee_required"
    assert order.status == Status.NEW


def test_a_technician_cannot_move_an_order_assigned_to_someone_else(db, cast):
    order = order_in(Status.ASSIGNED, cast)
    stranger = factories.TechnicianFactory()
    actor = Principal(role=Role.TECHNICIAN, user_id=stranger.user_id, technician_id=stranger.id)
    with pytest.raises(Problem) as caught:
        service.transition_work_order(session=db, order=order, to_status=Status.ACCEPTED, actor=actor)
    assert (caught.value.status, caught.value.code) == (404, "work_order.not_found")


def test_a_customer_cannot_move_another_customers_order(db, cast):
    order = order_in(Status.NEW, cast)
    other = factories.CustomerFactory()
    actor = Principal(role=Role.CUSTOMER, user_id=other.user_id, customer_id=other.id)
    with pytest.raises(Problem) as caught:
        service.transition_work_order(session=db, order=order, to_status=Status.CANCELLED, actor=actor)
    assert caught.value.status == 404


def test_a_stale_base_version_is_a_conflict_and_changes_nothing(db, cast):
    order = order_in(Status.ASSIGNED, cast)
    with pytest.raises(Problem) as caught:
        service.transition_work_order(
            session=db,
            order=order,
            to_status=Status.ACCEPTED,
            actor=principal(Role.TECHNICIAN, cast),
            base_version=order.version + 1,
        )
    assert caught.value.code == "work_order.version_mismatch"
    assert caught.value.extra["current_version"] == order.version
    assert order.status == Status.ASSIGNED


def test_an_unknown_status_is_a_validation_problem(db, cast):
    order = order_in(Status.NEW, cast)
    with pytest.raises(Problem) as caught:
        service.transition_work_order(
            session=db, order=order, to_status="teleported", actor=principal(Role.DISPATCHER, cast)
        )
    assert (caught.value.status, caught.value.code) == (422, "work_order.unknown_status")
    assert "to" in caught.value.errors
