"""The audit chain becomes keyed (issue 15): rows from ``audit_head.keyed_from`` on carry an
HMAC under the ``audit_key`` setting; rows written before keep their SHA-256 (their hashes
cannot be rewritten: the table is append-only), and the anchors record the boundary.

Revision ID: config_0002
Revises: config_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "config_0002"
down_revision = "config_0001"
branch_labels = None
depends_on = None

BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.add_column("audit_head", sa.Column("keyed_from", BIGINT, nullable=False, server_default="1"))
    op.execute("UPDATE audit_head SET keyed_from = seq + 1")


def downgrade() -> None:
    op.drop_column("audit_head", "keyed_from")
