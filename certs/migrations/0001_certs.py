"""Certificate authority: custody keys, certificates, hierarchy roles, CRLs.

Revision ID: certs_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "certs_0001"
down_revision = None
branch_labels = ("certs",)
depends_on = "config_0001"


def upgrade() -> None:
    op.create_table(
        "certs_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("label", sa.String(128), nullable=False, unique=True),
        sa.Column("backend", sa.String(16), nullable=False),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("pkcs8", sa.LargeBinary),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "certs_certificates",
        sa.Column("serial", sa.String(40), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False, index=True),
        sa.Column("profile", sa.String(32)),
        sa.Column("subject", sa.String(1024), nullable=False),
        sa.Column("issuer_serial", sa.String(40), nullable=False),
        sa.Column("key_label", sa.String(128)),
        sa.Column("not_before", sa.DateTime, nullable=False),
        sa.Column("not_after", sa.DateTime, nullable=False),
        sa.Column("der", sa.LargeBinary, nullable=False),
        sa.Column("revoked_at", sa.DateTime),
        sa.Column("revocation_reason", sa.String(32)),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "certs_authority",
        sa.Column("role", sa.String(16), primary_key=True),
        sa.Column(
            "serial", sa.String(40), sa.ForeignKey("certs_certificates.serial"), nullable=False
        ),
    )
    op.create_table(
        "certs_crls",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("issuer_serial", sa.String(40), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("this_update", sa.DateTime, nullable=False),
        sa.Column("next_update", sa.DateTime, nullable=False),
        sa.Column("der", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("issuer_serial", "number"),
    )


def downgrade() -> None:
    for table in ("certs_crls", "certs_authority", "certs_certificates", "certs_keys"):
        op.drop_table(table)
