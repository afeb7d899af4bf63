"""Assurance (issue 14): seal history, officers' names kept here, route actors' names.

Revision ID: signing_0002
Revises: signing_0001

Existing departments get their current seal as the first row of ``signing_seals``;
officers and route actors get their names copied once from the provider's table (the
last time signing reads it: from now on the provider hands names over as arguments).
"""

import sqlalchemy as sa
from alembic import op

revision = "signing_0002"
down_revision = "signing_0001"
branch_labels = None
depends_on = "certs_0002"


def upgrade() -> None:
    op.create_table(
        "signing_seals",
        sa.Column(
            "cert_serial",
            sa.String(40),
            sa.ForeignKey("certs_certificates.serial"),
            primary_key=True,
        ),
        sa.Column(
            "department_id",
            sa.Integer,
            sa.ForeignKey("signing_departments.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("key_label", sa.String(128), nullable=False),
        sa.Column("not_after", sa.DateTime, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    with op.batch_alter_table("signing_members") as table:
        table.add_column(sa.Column("username", sa.String(64), nullable=False, server_default=""))
    with op.batch_alter_table("signing_route_steps") as table:
        table.add_column(sa.Column("actor_name", sa.String(64)))
    with op.batch_alter_table("signing_departments") as table:
        table.add_column(sa.Column("organization_identifier", sa.String(64)))
    with op.batch_alter_table("signing_documents") as table:
        table.add_column(
            sa.Column(
                "citizen_id",
                sa.Integer,
                sa.ForeignKey("users.id", name="fk_signing_documents_citizen", ondelete="SET NULL"),
            )
        )
    op.execute(
        "INSERT INTO signing_seals (cert_serial, department_id, key_label, not_after, created_at)"
        " SELECT d.cert_serial, d.id, d.key_label, c.not_after, d.created_at"
        " FROM signing_departments d JOIN certs_certificates c ON c.serial = d.cert_serial"
    )
    op.execute(
        "UPDATE signing_members SET username = (SELECT users.username FROM users"
        " WHERE users.id = signing_members.user_id)"
    )
    op.execute(
        "UPDATE signing_route_steps SET actor_name = (SELECT users.username FROM users"
        " WHERE users.id = signing_route_steps.actor_id) WHERE actor_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("signing_documents") as table:
        table.drop_constraint("fk_signing_documents_citizen", type_="foreignkey")
        table.drop_column("citizen_id")
    with op.batch_alter_table("signing_departments") as table:
        table.drop_column("organization_identifier")
    with op.batch_alter_table("signing_route_steps") as table:
        table.drop_column("actor_name")
    with op.batch_alter_table("signing_members") as table:
        table.drop_column("username")
    op.drop_table("signing_seals")
