"""Client policy and initial-token limits (issue 15): who decides PKCE, how often a token
registers, and which scopes its clients may get.

``clients.require_pkce`` is the operator's choice per client (NULL follows the setting).
Initial access tokens made before this revision could register any number of clients for
seven days; they keep one use and the OIDC scopes.

Revision ID: idp_0003
Revises: idp_0002_console
"""

import sqlalchemy as sa
from alembic import op

revision = "idp_0003"
down_revision = "idp_0002_console"
branch_labels = None
depends_on = None

STANDARD_SCOPES = "openid profile email phone address offline_access"


def upgrade() -> None:
    # Plain ADD COLUMN: a batch (copy-and-rename) of clients on SQLite would drop the
    # table that consents and grants reference with ON DELETE CASCADE.
    op.add_column("clients", sa.Column("require_pkce", sa.Boolean))
    op.add_column(
        "initial_access_tokens",
        sa.Column("uses_left", sa.Integer, nullable=False, server_default=sa.text("1")),
    )
    op.add_column(
        "initial_access_tokens",
        sa.Column("scopes", sa.Text, nullable=False, server_default=STANDARD_SCOPES),
    )


def downgrade() -> None:
    op.drop_column("initial_access_tokens", "scopes")
    op.drop_column("initial_access_tokens", "uses_left")
    op.drop_column("clients", "require_pkce")
