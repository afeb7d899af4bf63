"""Durable revocations and refresh retries (issue 15).

``revoked_access_tokens`` records access tokens revoked on their own, so a revocation
outlives a Redis that restarts empty; ``grants.revoked_at`` gets an index because the
revocation cache is rebuilt from recently revoked grants. ``refresh_tokens.successor_hash``
names the token a use issued, which a retry within the grace window replaces.

Revision ID: idp_0005
Revises: idp_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "idp_0005"
down_revision = "idp_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revoked_access_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_revoked_access_tokens_expires_at", "revoked_access_tokens", ["expires_at"])
    op.create_index("ix_grants_revoked_at", "grants", ["revoked_at"])
    op.add_column("refresh_tokens", sa.Column("successor_hash", sa.String(64)))


def downgrade() -> None:
    op.drop_column("refresh_tokens", "successor_hash")
    op.drop_index("ix_grants_revoked_at", "grants")
    op.drop_index("ix_revoked_access_tokens_expires_at", "revoked_access_tokens")
    op.drop_table("revoked_access_tokens")
