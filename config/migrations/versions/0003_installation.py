"""Facts of the installation (issue 15): its issuer, fixed at first start.

Revision ID: config_0003
Revises: config_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "config_0003"
down_revision = "config_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "installation",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("installation")
