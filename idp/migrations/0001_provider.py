"""Provider tables: users, clients, consents, grants, refresh tokens, keys, initial tokens.

Revision ID: idp_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "idp_0001"
down_revision = None
branch_labels = ("idp",)
depends_on = "config_0001"


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("public_sub", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("email_verified", sa.Boolean, nullable=False),
        sa.Column("phone_number", sa.String(64)),
        sa.Column("address", sa.JSON),
        sa.Column("locale", sa.String(16)),
        sa.Column("always_face", sa.Boolean, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "clients",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False, unique=True),
        sa.Column("secret_hash", sa.String(128)),
        sa.Column("registration_token_hash", sa.String(128)),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("allowed_scopes", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("secret_expires_at", sa.Integer, nullable=False),
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column(
            "client_id",
            sa.String(64),
            sa.ForeignKey("clients.client_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("granted_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("user_id", "client_id"),
    )
    op.create_table(
        "grants",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True),
        sa.Column(
            "client_id",
            sa.String(64),
            sa.ForeignKey("clients.client_id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("sid", sa.String(64), index=True),
        sa.Column("auth_time", sa.Integer),
        sa.Column("acr", sa.String(128)),
        sa.Column("amr", sa.JSON),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "grant_id",
            sa.String(32),
            sa.ForeignKey("grants.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("issued_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("used_at", sa.DateTime),
        sa.Column("revoked_at", sa.DateTime),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("alg", sa.String(16), nullable=False),
        sa.Column("private_pem", sa.LargeBinary, nullable=False),
        sa.Column("public_jwk", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("activates_at", sa.DateTime, nullable=False),
        sa.Column("retired_at", sa.DateTime),
    )
    op.create_table(
        "initial_access_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("used_at", sa.DateTime),
    )


def downgrade() -> None:
    for table in (
        "initial_access_tokens",
        "signing_keys",
        "refresh_tokens",
        "grants",
        "consents",
        "clients",
        "users",
    ):
        op.drop_table(table)
