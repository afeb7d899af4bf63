"""Face templates: provenance (counter, authoritative, self) and a data key per template.

Templates stored before this revision were registered from a citizen's session or by an
unrecorded CLI call: they become ``self``, the provenance that proves least.

Revision ID: biometrics_0002
Revises: biometrics_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "biometrics_0002"
down_revision = "biometrics_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("face_templates") as batch:
        batch.add_column(
            sa.Column("provenance", sa.String(16), nullable=False, server_default="self")
        )
        batch.add_column(sa.Column("wrapped_key", sa.LargeBinary, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("face_templates") as batch:
        batch.drop_column("wrapped_key")
        batch.drop_column("provenance")
