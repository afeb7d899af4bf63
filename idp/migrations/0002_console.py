"""Operators' roles, authenticator apps (TOTP) with recovery codes, forced password
changes and erased accounts' tombstones (issue 17).

Revision ID: idp_0002_console
Revises: idp_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "idp_0002_console"
down_revision = "idp_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy of the table): on SQLite, rebuilding ``users``
    # with foreign keys on would cascade-delete the rows that refer to it.
    op.add_column(
        "users",
        sa.Column("password_must_change", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "operator_roles",
        sa.Column(
            "user_id",
            sa.Integer,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("role", sa.String(16), primary_key=True),
        sa.Column("granted_by", sa.String(64), nullable=False),
        sa.Column("granted_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "totp_credentials",
        sa.Column(
            "user_id",
            sa.Integer,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("last_step", sa.BigInteger, nullable=False),
        sa.Column("for_operators", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "totp_recovery_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("used_at", sa.DateTime),
    )
    op.create_table(
        "erased_accounts",
        sa.Column("username_hash", sa.String(64), primary_key=True),
        sa.Column("erased_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("erased_accounts", "totp_recovery_codes", "totp_credentials", "operator_roles"):
        op.drop_table(table)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("password_must_change")
