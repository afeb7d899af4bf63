"""Face templates: sealed encodings per user.

Revision ID: biometrics_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "biometrics_0001"
down_revision = None
branch_labels = ("biometrics",)
depends_on = "config_0001"


def upgrade() -> None:
    op.create_table(
        "face_templates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False, index=True),
        sa.Column("model", sa.String(32), nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("face_templates")
