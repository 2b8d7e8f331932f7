"""Sync feed route indexes (PostgreSQL): a pull reads each route to a device (addressed scope moves,
reference data, the technician's rows, their jobs' rows, referenced rows) as an ordered range after its
cursor.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite reads the rowid range after a cursor (backend/models/sync.py)
    op.create_index("ix_sync_changes_audience_txid_pos", "sync_changes", ["audience", "txid", "pos"])
    op.create_index("ix_sync_changes_scope_key_txid_pos", "sync_changes", ["scope", "scope_key", "txid", "pos"])
    op.create_index("ix_sync_changes_scope_row_txid_pos", "sync_changes", ["scope", "row_id", "txid", "pos"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_sync_changes_scope_row_txid_pos", table_name="sync_changes")
    op.drop_index("ix_sync_changes_scope_key_txid_pos", table_name="sync_changes")
    op.drop_index("ix_sync_changes_audience_txid_pos", table_name="sync_changes")
