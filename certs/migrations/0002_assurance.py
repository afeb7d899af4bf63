"""Assurance (issue 14): invalidity dates of revocations, and the EST device registry.

Revision ID: certs_0002
Revises: certs_0001

Existing rows keep validating unchanged: a revocation without an invalidity date means
what it meant before, and certificates issued earlier (CA names without ``C=``,
https pointers) stay as they are; rotation (``onetrip ca rotate``, ``departments
renew-seal``) replaces the end entities and the TSA and OCSP certificates by conformant
ones while the old ones keep being served for validation.
"""

import sqlalchemy as sa
from alembic import op

revision = "certs_0002"
down_revision = "certs_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("certs_certificates") as table:
        table.add_column(sa.Column("invalidity_date", sa.DateTime))
    op.create_table(
        "certs_devices",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("secret_sha256", sa.String(64)),
        sa.Column("client_id", sa.String(64), unique=True),
        sa.Column("dns_names", sa.String(1024), nullable=False),
        sa.Column("cert_serial", sa.String(40)),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("certs_devices")
    with op.batch_alter_table("certs_certificates") as table:
        table.drop_column("invalidity_date")
