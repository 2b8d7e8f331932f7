"""How a model takes part in delta sync: declared on the model class, read by the change feed.

A synced model sets `__sync__ = SyncSpec(entity="attachments", scope=Scope.WORK_ORDER)`. The scope
says which devices receive its rows:

- `WORK_ORDER`: rows with a `work_order_id`; devices whose technician has that job in scope.
- `TECHNICIAN`: rows with a `technician_id` (e.g. a van's stock balance); that technician's devices.
- `GLOBAL`: reference data every technician gets (parts catalog, fee schedule, checklist templates).
- `REFERENCED`: customers/products/addresses, sent while an in-scope job references them.

`fields` limits what a device receives (customers: only what a technician may see); `None` = all
columns.

Optional, usually derived (compatible extensions):
- `scope_column`: the column holding the scope key (default `work_order_id` for WORK_ORDER,
  `technician_id` for TECHNICIAN; the work order itself uses its `id`);
- `via`: for REFERENCED, the root's column pointing at the row (default: the root's foreign key that
  targets the model's table);
- `version_column`: what the convergence checksum takes as the row's version (default `version` if the
  model has it, else `updated_at`, else the row never changes once written).

One model is the *root* (the job): its scope key is its own id, and it says who holds it. Its
`holder_column` names the technician whose devices keep it while its `state_column` is one of
`held_states`; REFERENCED rows hang off the root's foreign keys. The sync engine learns all of this
from the declaration and imports no domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Scope(StrEnum):
    WORK_ORDER = "work_order"
    TECHNICIAN = "technician"
    GLOBAL = "global"
    REFERENCED = "referenced"


@dataclass(frozen=True)
class SyncSpec:
    entity: str
    scope: Scope
    fields: tuple[str, ...] | None = None
    scope_column: str | None = None
    via: str | None = None
    version_column: str | None = None
    holder_column: str | None = None
    state_column: str | None = None
    held_states: frozenset[str] = frozenset()

    @property
    def is_root(self) -> bool:
        return self.holder_column is not None
