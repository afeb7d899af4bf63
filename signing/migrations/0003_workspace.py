"""The officer's workspace (issue 17): roles per membership, what an inbox shows, its indexes.

Revision ID: signing_0003
Revises: signing_0002

Every existing membership becomes an ``officer`` one (the rights it had: sign and act on
routes); department administrators are named afterwards. Documents get what an inbox
and a history show: the sender's name, a subject, a note and a deadline. The indexes
serve the inbox (a department's current steps) and the history (a department's past
steps and signatures, newest first).
"""

import sqlalchemy as sa
from alembic import op

revision = "signing_0003"
down_revision = "signing_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signing_members") as table:
        table.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="officer"))
    with op.batch_alter_table("signing_documents") as table:
        table.add_column(sa.Column("created_by_name", sa.String(64)))
        table.add_column(sa.Column("subject", sa.String(200)))
        table.add_column(sa.Column("note", sa.Text))
        table.add_column(sa.Column("deadline", sa.DateTime))
    op.create_index(
        "ix_signing_route_steps_department_state",
        "signing_route_steps",
        ["department_id", "state", "acted_at"],
    )
    op.create_index(
        "ix_signing_signatures_department_signed_at",
        "signing_signatures",
        ["department_id", "signed_at"],
    )
    op.create_index("ix_signing_documents_citizen_id", "signing_documents", ["citizen_id"])
    op.create_index("ix_signing_documents_created_by", "signing_documents", ["created_by"])


def downgrade() -> None:
    op.drop_index("ix_signing_documents_created_by", "signing_documents")
    op.drop_index("ix_signing_documents_citizen_id", "signing_documents")
    op.drop_index("ix_signing_signatures_department_signed_at", "signing_signatures")
    op.drop_index("ix_signing_route_steps_department_state", "signing_route_steps")
    with op.batch_alter_table("signing_documents") as table:
        table.drop_column("deadline")
        table.drop_column("note")
        table.drop_column("subject")
        table.drop_column("created_by_name")
    with op.batch_alter_table("signing_members") as table:
        table.drop_column("role")
