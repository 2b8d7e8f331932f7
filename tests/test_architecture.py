"""Guard rails of the layout: what a domain declares in `register()` is complete, and the one-place
tables (permissions, the state machine, customer labels) have no holes. Layer arrows themselves are
checked by import-linter (`make lint`)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import backend
from backend.domains import DOMAINS, setup
from backend.kernel.base import Base
from backend.kernel.permissions import Permission
from backend.kernel.registration import Registry
from backend.sync.registry import Mutation, declared_in
from backend.work_orders.states import CUSTOMER_LABELS, TRANSITIONS, Status

BACKEND = Path(backend.__file__).parent


def _backend_modules() -> list[ModuleType]:
    names = [m.name for m in pkgutil.walk_packages([str(BACKEND)], prefix="backend.")]
    return [importlib.import_module(name) for name in names]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return setup()


def test_every_module_that_defines_a_mutation_is_registered_by_its_domain(registry):
    defining = {m.__name__ for m in _backend_modules() if declared_in(m)}
    registered = {m.__name__ for m in registry.mutation_modules}
    assert defining, "no module defines a mutation: the scan is broken"
    assert defining == registered


def test_every_mutation_name_is_defined_once(registry):
    names = [spec.name for module in registry.mutation_modules for spec in declared_in(module)]
    assert len(names) == len(set(names))
    assert all(isinstance(spec, Mutation) for m in registry.mutation_modules for spec in declared_in(m))


def test_every_model_module_is_declared_by_a_domain_so_alembic_sees_it(registry):
    declared = {m.__name__ for m in registry.model_modules}
    defining = set()
    for module in _backend_modules():
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Base) and cls is not Base and cls.__module__ == module.__name__:
                defining.add(module.__name__)
    assert defining <= declared, f"model modules no domain declares: {sorted(defining - declared)}"


def test_every_permission_is_granted_by_exactly_one_domain(registry):
    assert set(registry.grants) == set(Permission)
    assert all(registry.grants[p] for p in Permission), "a permission granted to no role"


def _permission_arguments() -> list[tuple[str, int, ast.expr]]:
    """The first argument of every require/can/authorize call in the views and domains."""
    found = []
    for path in BACKEND.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id == "require" and node.args:
                    found.append((str(path), node.lineno, node.args[0]))
                elif node.func.id in ("can", "authorize") and len(node.args) == 2:
                    found.append((str(path), node.lineno, node.args[1]))
    return found


def test_every_permission_a_view_asks_for_exists():
    calls = _permission_arguments()
    assert len(calls) > 40, "the scan found too few permission checks"
    for path, line, arg in calls:
        if isinstance(arg, ast.Name):  # a parameter passed through (`_visible_bill(bill_id, action)`)
            continue
        assert isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name), f"{path}:{line}"
        assert arg.value.id == "Permission", f"{path}:{line}: a permission is a Permission member"
        assert arg.attr in Permission.__members__, f"{path}:{line}: unknown permission {arg.attr}"


def test_every_status_has_a_customer_label_and_a_row_in_the_state_table():
    in_table = {s for pair in TRANSITIONS for s in pair}
    for status in Status:
        assert CUSTOMER_LABELS.get(status), f"{status} has no customer label"
        assert status in in_table, f"{status} is in no transition"


def test_the_transition_guards_of_every_domain_are_registered(registry):
    names = {guard.__name__ for guard in registry.transition_guards}
    assert names == {"safety_before_repair", "findings_need_a_decision", "close_only_after_rework_accepted"}


def test_every_domain_has_one_register_function():
    for domain in DOMAINS:
        assert callable(getattr(domain, "register", None)), domain.__name__


def test_a_domain_registered_twice_is_refused():
    registry = Registry()
    DOMAINS[1].register(registry)
    with pytest.raises(RuntimeError, match="registered twice"):
        DOMAINS[1].register(registry)


def test_a_worker_that_skips_setup_is_refused_instead_of_running_without_other_domains_guards():
    """A process that imports one domain's service and opens a session without `setup()` gets an
    error, not transitions that skip the safety, consent and rework guards or writes the feed misses."""
    script = (
        "import backend.work_orders.service\n"
        "from backend.db import make_engine, make_session_factory\n"
        "try:\n"
        "    make_session_factory(make_engine('sqlite://'))\n"
        "except RuntimeError as exc:\n"
        "    print('refused:', exc)\n"
        "from backend.domains import setup\n"
        "print(sorted(g.__name__ for g in setup().transition_guards))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.startswith("refused: RepairOps domains are not set up")
    assert "safety_before_repair" in out and "close_only_after_rework_accepted" in out
