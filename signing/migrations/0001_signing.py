"""PAdES signing: departments, members, PDF blobs, documents, route steps, signatures.

Revision ID: signing_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "signing_0001"
down_revision = None
branch_labels = ("signing",)
depends_on = ("certs_0001", "idp_0001")


def upgrade() -> None:
    op.create_table(
        "signing_departments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("name_en", sa.String(255)),
        sa.Column("key_label", sa.String(128), nullable=False),
        sa.Column(
            "cert_serial", sa.String(40), sa.ForeignKey("certs_certificates.serial"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "signing_members",
        sa.Column(
            "department_id",
            sa.Integer,
            sa.ForeignKey("signing_departments.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("added_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_signing_members_user_id", "signing_members", ["user_id"])
    op.create_table(
        "signing_blobs",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "signing_documents",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("current_step", sa.Integer),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("stamp", sa.Boolean, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("blob_sha256", sa.String(64), sa.ForeignKey("signing_blobs.sha256")),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_signing_documents_state", "signing_documents", ["state"])
    op.create_index("ix_signing_documents_sha256", "signing_documents", ["sha256"])
    op.create_table(
        "signing_route_steps",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "document_id",
            sa.String(32),
            sa.ForeignKey("signing_documents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column(
            "department_id", sa.Integer, sa.ForeignKey("signing_departments.id"), nullable=False
        ),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("acted_at", sa.DateTime),
        sa.Column("reason", sa.Text),
        sa.UniqueConstraint("document_id", "position"),
    )
    op.create_index("ix_signing_route_steps_document_id", "signing_route_steps", ["document_id"])
    op.create_table(
        "signing_signatures",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "document_id",
            sa.String(32),
            sa.ForeignKey("signing_documents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "department_id", sa.Integer, sa.ForeignKey("signing_departments.id"), nullable=False
        ),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("client_id", sa.String(64)),
        sa.Column("field_name", sa.String(128), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("certification", sa.Boolean, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("signed_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_signing_signatures_document_id", "signing_signatures", ["document_id"])
    op.create_index("ix_signing_signatures_sha256", "signing_signatures", ["sha256"])


def downgrade() -> None:
    for table in (
        "signing_signatures",
        "signing_route_steps",
        "signing_documents",
        "signing_blobs",
        "signing_members",
        "signing_departments",
    ):
        op.drop_table(table)
