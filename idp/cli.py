"""The ``onetrip`` command: the root group, and the provider's own commands."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from config.cli import (
    CliError,
    LazyGroup,
    emit,
    ensure_schema,
    json_option,
    pass_runtime,
    read_secret_from_stdin,
)

if TYPE_CHECKING:
    from config.runtime import Runtime
    from idp.components import Components
    from idp.provider import Provider

#: The other packages' commands: imported when run (pyHanko, numpy and face_recognition
#: would otherwise load for every command), listed by ``--help`` from their help here.
_PACKAGE_COMMANDS = {
    "ca": ("certs.cli:ca", "The certificate authority: hierarchy, certificates, revocation."),
    "departments": (
        "idp.cli:_departments",
        "Departments that seal documents, and their officers.",
    ),
    "faces": ("idp.cli:_faces", "Face templates: enrol a photo, verify photos, delete."),
    "sign": (
        "signing.cli:sign",
        "Seal INPUT_PDF with a department's certificate into OUTPUT (the input is untouched).",
    ),
    "signing": ("signing.cli:signing_group", "Keeping signed documents verifiable for decades."),
    "verify": (
        "signing.cli:verify",
        "Check every signature (ETSI EN 319 102-1); exit 0 only if every one is TOTAL-PASSED.",
    ),
}


class _Root(LazyGroup):
    def invoke(self, ctx: click.Context):
        from config.settings import SettingsError

        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            raise CliError(str(exc), 2) from None


@click.group(
    cls=_Root,
    lazy=_PACKAGE_COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="onetrip")
def main() -> None:
    """OneTrip: log in once, sign without a visit, connect any service.

    Settings come from ONETRIP_* environment variables (ONETRIP_ISSUER,
    ONETRIP_DATA_DIR, DATABASE_URL, REDIS_URL, ...) and the TOML file named
    by ONETRIP_CONFIG. The README lists them all.
    """


def _ready(runtime: Runtime, first_issuer: str | None = None) -> Runtime:
    """The runtime with the schema in place and the installation's issuer (stored at the
    first start; a conflicting ONETRIP_ISSUER is refused). A command migrates only a fresh
    database; ``serve`` brings any schema up to date."""
    from idp.serve import bootstrap, settle_issuer

    if first_issuer is None:  # a command: a first start here stores the configured issuer
        ensure_schema(runtime)
        bootstrap(runtime)
        settle_issuer(runtime)
        return runtime
    runtime.migrate()  # serve: settled before the CA's first start writes it into URLs
    settle_issuer(runtime, first_issuer)
    bootstrap(runtime)
    return runtime


# -- serve ---------------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Worker processes  [default: CPU count]",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Threads per worker (password hashing and I/O release the GIL).",
)
@pass_runtime
def serve(runtime: Runtime, host: str, port: int, workers: int | None, threads: int) -> None:
    """Run the whole server (creates the schema, keys and CA on first start)."""
    from config.settings import explicit_issuer
    from idp.serve import check_listening, listening_issuer
    from idp.serve import serve as run

    workers = workers or os.cpu_count() or 1
    _ready(runtime, listening_issuer(host, port))
    if explicit_issuer() is None:
        check_listening(runtime.settings.issuer, host, port)
    _first_steps(runtime)
    click.echo(
        f"OneTrip {runtime.settings.issuer} listening on http://{host}:{port} "
        f"({workers} worker{'s' if workers > 1 else ''}, data in "
        f"{runtime.settings.data_dir})",
        err=True,
    )
    run(runtime, host, port, workers, threads)


def _first_steps(runtime: Runtime) -> None:
    """On a server with no citizens or services yet, say how to add the first ones."""
    from sqlalchemy import func, select

    from idp.models import Client, User

    with runtime.db.read() as session:
        users = session.scalar(select(func.count(User.id)))
        clients = session.scalar(select(func.count(Client.id)))
    if users and clients:
        return
    hints = ["", "First steps (in another terminal):"]
    if not users:
        hints.append(
            "  .venv/bin/onetrip users create alice --name 'Alice Citizen' "
            "--email alice@example.org    # then type a password"
        )
    if not clients:
        hints.append(
            "  .venv/bin/onetrip clients create --name 'Tax Office' "
            "--redirect-uri http://127.0.0.1:5001/callback --json"
        )
    hints.append(
        f"  open {runtime.settings.issuer}/account to sign in; see README.md to connect a service."
    )
    click.echo("\n".join(hints) + "\n", err=True)


# -- users ---------------------------------------------------------------------------------


@main.group()
def users() -> None:
    """Citizens' accounts."""


@users.command("create")
@click.argument("username")
@click.option("--name", required=True, help="Full name, as services will see it.")
@click.option("--email", required=True)
@click.option("--phone", default=None, help="Phone number in E.164 form.")
@json_option
@pass_runtime
def users_create(
    runtime: Runtime, username: str, name: str, email: str, phone: str | None, as_json: bool
) -> None:
    """Create a citizen account; the password is read from standard input."""
    from idp.passwords import Passwords
    from idp.users import UserError, create_user

    password = read_secret_from_stdin("Password")
    try:
        with _ready(runtime).db.write() as session:
            user = create_user(
                session,
                Passwords(runtime.settings),
                username,
                name=name,
                email=email,
                password=password,
                phone_number=phone,
                settings=runtime.settings,
            )
            data = {
                "username": user.username,
                "sub": user.public_sub,
                "name": user.name,
                "email": user.email,
            }
    except UserError as exc:
        raise CliError(str(exc)) from None
    emit(data, as_json, text=f"created user {data['username']}")


@users.command("list")
@json_option
@pass_runtime
def users_list(runtime: Runtime, as_json: bool) -> None:
    """List accounts."""
    from sqlalchemy import select

    from idp.models import User
    from idp.operators import operators

    with _ready(runtime).db.read() as session:
        roles: dict[str, list[str]] = {}
        for username, role in operators(session):
            roles.setdefault(username, []).append(role)
        rows = [
            {
                "username": u.username,
                "name": u.name,
                "email": u.email,
                "disabled": u.disabled,
                "roles": roles.get(u.username, []),
            }
            for u in session.scalars(select(User).order_by(User.id))
        ]
    emit(rows, as_json)


def _citizen_change(change):
    """Run one change of :mod:`idp.citizens`; a refusal is one line on stderr."""
    from idp.users import UserError

    try:
        return change()
    except UserError as exc:
        raise CliError(str(exc)) from None


def _components(runtime: Runtime) -> Components:
    """The long-lived objects a command uses (:mod:`idp.components`), built when it runs."""
    from idp.components import build

    return build(_ready(runtime))


def _provider(runtime: Runtime) -> Provider:
    return _components(runtime).provider


@users.command("disable")
@click.argument("username")
@json_option
@pass_runtime
def users_disable(runtime: Runtime, username: str, as_json: bool) -> None:
    """Disable an account and end its sessions; its tokens stop working."""
    _set_disabled(runtime, username, True, as_json)


@users.command("enable")
@click.argument("username")
@json_option
@pass_runtime
def users_enable(runtime: Runtime, username: str, as_json: bool) -> None:
    """Enable a disabled account."""
    _set_disabled(runtime, username, False, as_json)


def _set_disabled(runtime: Runtime, username: str, disabled: bool, as_json: bool) -> None:
    from idp import citizens

    changed = _citizen_change(
        lambda: citizens.set_disabled(_provider(runtime), username, disabled, actor="cli")
    )
    verb = "disabled" if disabled else "enabled"
    emit(
        {"username": username, "disabled": disabled, "changed": changed},
        as_json,
        text=f"{verb} {username}" if changed else f"{username} was already {verb}",
    )


@users.command("set-password")
@click.argument("username")
@click.option(
    "--temporary/--permanent",
    default=True,
    show_default=True,
    help="A temporary password must be replaced at the next login.",
)
@json_option
@pass_runtime
def users_set_password(runtime: Runtime, username: str, temporary: bool, as_json: bool) -> None:
    """Set a password read from standard input; the account's sessions end."""
    from idp import citizens
    from idp.users import get_user, set_password

    password = read_secret_from_stdin("New password")
    provider = _provider(runtime)

    def permanent() -> None:
        with provider.db.write() as session:
            set_password(
                session, provider.passwords, get_user(session, username), password, actor="cli"
            )

    if temporary:
        _citizen_change(
            lambda: citizens.set_temporary_password(provider, username, password, actor="cli")
        )
    else:
        _citizen_change(permanent)
    emit(
        {"username": username, "temporary": temporary},
        as_json,
        text=f"password of {username} set" + (" (temporary)" if temporary else ""),
    )


@users.command("unlock")
@click.argument("username")
@json_option
@pass_runtime
def users_unlock(runtime: Runtime, username: str, as_json: bool) -> None:
    """Forget an account's failed logins, so a throttled citizen may try again at once."""
    from idp import citizens

    _citizen_change(lambda: citizens.unlock(_provider(runtime), username, actor="cli"))
    emit({"username": username, "unlocked": True}, as_json, text=f"unlocked {username}")


@users.command("end-sessions")
@click.argument("username")
@json_option
@pass_runtime
def users_end_sessions(runtime: Runtime, username: str, as_json: bool) -> None:
    """End every SSO session of an account (services are told by back-channel logout)."""
    from idp import citizens

    ended = _citizen_change(
        lambda: citizens.end_sessions(_provider(runtime), username, actor="cli")
    )
    emit(
        {"username": username, "sessions_ended": ended},
        as_json,
        text=f"ended {ended} session(s) of {username}",
    )


@users.command("delete")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Confirm: the account and its face templates are erased.")
@json_option
@pass_runtime
def users_delete(runtime: Runtime, username: str, yes: bool, as_json: bool) -> None:
    """Erase an account: personal data, face templates, authenticator, consents, grants."""
    from idp import citizens

    if not yes:
        raise CliError(f"erasing {username} cannot be undone: add --yes to confirm")
    parts = _components(runtime)
    result = _citizen_change(
        lambda: citizens.erase(parts.provider, parts.faces, username, actor="cli")
    )
    emit(result, as_json, text=f"erased {username}")


@users.command("export")
@click.argument("username")
@json_option
@pass_runtime
def users_export(runtime: Runtime, username: str, as_json: bool) -> None:
    """Print everything kept about an account as JSON (the citizen's right of access)."""
    from idp import citizens

    parts = _components(runtime)
    data = _citizen_change(
        lambda: citizens.export(parts.provider, parts.faces, username, actor="cli")
    )
    emit(data, True)


@users.command("grant-role")
@click.argument("username")
@click.argument("role")
@json_option
@pass_runtime
def users_grant_role(runtime: Runtime, username: str, role: str, as_json: bool) -> None:
    """Make an account an operator of the console (/admin): ROLE is administrator,
    helpdesk or auditor."""
    _role_change(runtime, username, role, grant=True, as_json=as_json)


@users.command("revoke-role")
@click.argument("username")
@click.argument("role")
@json_option
@pass_runtime
def users_revoke_role(runtime: Runtime, username: str, role: str, as_json: bool) -> None:
    """Take an operator's ROLE away."""
    _role_change(runtime, username, role, grant=False, as_json=as_json)


def _role_change(runtime: Runtime, username: str, role: str, *, grant: bool, as_json: bool):
    from idp.operators import RoleError, grant_role, revoke_role, roles_of
    from idp.users import UserError, get_user

    def change():
        with _ready(runtime).db.write() as session:
            user = get_user(session, username)
            changed = (grant_role if grant else revoke_role)(session, user, role, actor="cli")
            return changed, sorted(roles_of(session, user.id))

    try:
        changed, roles = change()
    except (UserError, RoleError) as exc:
        raise CliError(str(exc)) from None
    verb = "granted" if grant else "revoked"
    data = {"username": username, "roles": roles, "changed": changed}
    text = (
        f"{verb} {role} for {username}"
        if changed
        else f"nothing to change: {', '.join(roles) or 'no roles'}"
    )
    if grant:
        invitation = _totp_invitation(runtime, username)
        if invitation:
            data["totp_invitation"] = invitation
            text += f"\nthe console needs an authenticator app set up at {invitation}"
    emit(data, as_json, text=text)


def _totp_invitation(runtime: Runtime, username: str) -> str | None:
    """A link that enrols an app for operators, unless the account has one already."""
    from idp.users import get_user

    provider = _provider(runtime)
    with provider.db.read() as session:
        user_id = get_user(session, username).id
    if provider.authenticators.for_operators(user_id):
        return None
    token = provider.authenticators.invite(user_id)
    return f"{runtime.settings.issuer}/account/totp?invite={token}"


@users.command("totp-invite")
@click.argument("username")
@json_option
@pass_runtime
def users_totp_invite(runtime: Runtime, username: str, as_json: bool) -> None:
    """Print a single-use link (a day) that sets up an authenticator app for the console."""
    invitation = _citizen_change(lambda: _totp_invitation(runtime, username))
    if invitation is None:
        raise CliError(f"{username} has an authenticator app for the console already")
    emit({"username": username, "totp_invitation": invitation}, as_json, text=invitation)


# -- clients -------------------------------------------------------------------------------


@main.group()
def clients() -> None:
    """Relying parties (services that log citizens in)."""


_REDIRECT_URIS = click.option(
    "--redirect-uri", "redirect_uris", multiple=True, help="Exact redirect URI; repeat."
)
_LOGOUT_URIS = click.option("--post-logout-redirect-uri", "logout_uris", multiple=True)
_BACKCHANNEL_URI = click.option("--backchannel-logout-uri", default=None)
_GRANT_TYPES = click.option(
    "--grant-type",
    "grant_types",
    multiple=True,
    type=click.Choice(["authorization_code", "refresh_token", "client_credentials"]),
    help="A grant type; repeat  [on create, default: authorization_code, refresh_token]",
)
_SCOPES = click.option(
    "--scope",
    "scopes",
    multiple=True,
    help="A scope the client may ever get; repeat  [on create, default: the OIDC scopes]",
)
_JWKS_FILE = click.option(
    "--jwks-file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Public JWKS for private_key_jwt.",
)
_PKCE_OPTION = click.option(
    "--require-pkce/--no-require-pkce",
    default=None,
    help="Whether this confidential client must use PKCE  [default: the require_pkce "
    "setting]; public clients always must.",
)


@clients.command("create")
@click.option("--name", required=True, help="Shown to citizens on the consent page.")
@_REDIRECT_URIS
@_LOGOUT_URIS
@_BACKCHANNEL_URI
@_GRANT_TYPES
@_SCOPES
@click.option("--public", is_flag=True, help="A public client (no secret; PKCE required).")
@click.option(
    "--auth-method",
    default=None,
    type=click.Choice(["client_secret_basic", "client_secret_post", "private_key_jwt"]),
)
@_JWKS_FILE
@click.option("--jwks-uri", default=None, help="Where the client publishes its JWKS instead.")
@click.option("--subject-type", type=click.Choice(["public", "pairwise"]), default="public")
@click.option("--id-token-alg", type=click.Choice(["RS256", "ES256"]), default="RS256")
@click.option("--default-acr", "default_acr", multiple=True)
@_PKCE_OPTION
@json_option
@pass_runtime
def clients_create(
    runtime: Runtime,
    name,
    redirect_uris,
    logout_uris,
    backchannel_logout_uri,
    grant_types,
    scopes,
    public,
    auth_method,
    jwks_file,
    jwks_uri,
    subject_type,
    id_token_alg,
    default_acr,
    require_pkce: bool | None,
    as_json: bool,
) -> None:
    """Register a client and print its client_id and client_secret (shown once).

    The client's URLs are checked for form here; that they lead to allowed addresses is
    checked by the server whenever it uses them (its outbound_networks setting)."""
    from idp.client_metadata import STANDARD_SCOPES, ClientError
    from idp.clients import client_info, create_client

    meta = {
        "client_name": name,
        "redirect_uris": list(redirect_uris),
        "post_logout_redirect_uris": list(logout_uris),
        "grant_types": list(grant_types) or ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none" if public else (auth_method or "client_secret_basic"),
        "subject_type": subject_type,
        "id_token_signed_response_alg": id_token_alg,
        "default_acr_values": list(default_acr),
    }
    if backchannel_logout_uri:
        meta["backchannel_logout_uri"] = backchannel_logout_uri
    if jwks_file:
        meta["jwks"] = _json_file(jwks_file)
    if jwks_uri:
        meta["jwks_uri"] = jwks_uri
    allowed = list(scopes) or list(STANDARD_SCOPES)
    try:
        with _ready(runtime).db.write() as session:
            row, secret, _ = create_client(
                session, runtime.settings, meta, allowed_scopes=allowed, require_pkce=require_pkce
            )
            info = client_info(row, secret)
    except ClientError as exc:
        raise CliError(str(exc)) from None
    text = f"client_id      {info['client_id']}"
    if secret:
        text += f"\nclient_secret  {secret}  (shown once: store it now)"
    emit(info, as_json, text=text)


def _json_file(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        raise CliError(f"{path} is not a JSON file") from None


@clients.command("update")
@click.argument("client_id")
@click.option("--name", default=None, help="Shown to citizens on the consent page.")
@_REDIRECT_URIS
@_LOGOUT_URIS
@_BACKCHANNEL_URI
@_GRANT_TYPES
@_SCOPES
@_JWKS_FILE
@_PKCE_OPTION
@json_option
@pass_runtime
def clients_update(
    runtime: Runtime,
    client_id: str,
    name,
    redirect_uris,
    logout_uris,
    backchannel_logout_uri,
    grant_types,
    scopes,
    jwks_file,
    require_pkce: bool | None,
    as_json: bool,
) -> None:
    """Change a client: each option given replaces what the client had (all its redirect
    URIs, all its grant types, ...); the rest stays."""
    from sqlalchemy import select

    from idp.client_metadata import ClientError, stored_fields
    from idp.clients import client_info, clients_changed, set_pkce_policy, update_client
    from idp.models import Client

    changes = {
        "client_name": name,
        "redirect_uris": list(redirect_uris) or None,
        "post_logout_redirect_uris": list(logout_uris) or None,
        "backchannel_logout_uri": backchannel_logout_uri,
        "grant_types": list(grant_types) or None,
        "jwks": _json_file(jwks_file) if jwks_file else None,
    }
    try:
        with _ready(runtime).db.write() as session:
            row = session.scalar(select(Client).where(Client.client_id == client_id))
            if row is None:
                raise CliError(f"no client {client_id!r}")
            meta = {**stored_fields(row.metadata_), **{k: v for k, v in changes.items() if v}}
            meta.pop("scope", None)
            update_client(
                session,
                runtime.settings,
                row,
                meta,
                actor="cli",
                allowed_scopes=list(scopes) or row.allowed_scopes.split(),
            )
            if require_pkce is not None:
                set_pkce_policy(session, row, require_pkce, actor="cli")
            info = {**client_info(row), "require_pkce": row.require_pkce}
    except ClientError as exc:
        raise CliError(str(exc)) from None
    clients_changed(lambda: runtime.redis)
    emit(info, as_json, text=f"updated {client_id}")


@clients.command("list")
@json_option
@pass_runtime
def clients_list(runtime: Runtime, as_json: bool) -> None:
    """List registered clients."""
    from sqlalchemy import select

    from idp.models import Client

    with _ready(runtime).db.read() as session:
        rows = [
            {
                "client_id": c.client_id,
                "name": c.metadata_.get("client_name"),
                "grant_types": c.metadata_.get("grant_types"),
                "scope": c.allowed_scopes,
            }
            for c in session.scalars(select(Client).order_by(Client.id))
        ]
    emit(rows, as_json)


@clients.command("delete")
@click.argument("client_id")
@pass_runtime
def clients_delete(runtime: Runtime, client_id: str) -> None:
    """Delete a client; its grants and tokens go with it."""
    from idp.clients import clients_changed, delete_client

    with _ready(runtime).db.write() as session:
        if not delete_client(session, client_id, actor="cli"):
            raise CliError(f"no client {client_id!r}")
    clients_changed(lambda: runtime.redis)
    click.echo(f"deleted {client_id}")


@clients.command("initial-token")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 365))
@click.option(
    "--uses",
    default=1,
    show_default=True,
    type=click.IntRange(1, 10000),
    help="How many clients it may register.",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    help="A scope its clients may get; repeat  [default: the OIDC scopes]",
)
@json_option
@pass_runtime
def clients_initial_token(
    runtime: Runtime, days: int, uses: int, scopes: tuple[str, ...], as_json: bool
) -> None:
    """Print an initial access token for RFC 7591 dynamic registration."""
    from idp.client_metadata import STANDARD_SCOPES
    from idp.registration import create_initial_token

    granted = list(scopes) or list(STANDARD_SCOPES)
    with _ready(runtime).db.write() as session:
        token = create_initial_token(session, days, uses, granted)
    data = {
        "initial_access_token": token,
        "expires_in_days": days,
        "uses": uses,
        "scope": " ".join(granted),
    }
    emit(data, as_json, text=token)


# -- keys ----------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """The provider's token-signing keys."""


@keys.command("rotate")
@click.option(
    "--now",
    "immediately",
    is_flag=True,
    help="Sign with the new keys at once (after a compromise) instead of after the publish delay.",
)
@json_option
@pass_runtime
def keys_rotate(runtime: Runtime, immediately: bool, as_json: bool) -> None:
    """Publish new signing keys; they sign once relying parties have had time to fetch them."""
    from idp.keys import rotate

    with _ready(runtime).db.write() as session:
        created = rotate(session, runtime.settings, immediately=immediately)
        rows = [
            {"kid": k.kid, "alg": k.alg, "activates_at": k.activates_at.isoformat() + "Z"}
            for k in created
        ]
    emit(rows, as_json)


@keys.command("list")
@json_option
@pass_runtime
def keys_list(runtime: Runtime, as_json: bool) -> None:
    """List keys with when they start signing and when they retired."""
    from sqlalchemy import select

    from idp.models import SigningKey

    with _ready(runtime).db.read() as session:
        rows = [
            {
                "kid": k.kid,
                "alg": k.alg,
                "created_at": k.created_at.isoformat() + "Z",
                "activates_at": k.activates_at.isoformat() + "Z",
                "retired_at": k.retired_at.isoformat() + "Z" if k.retired_at else None,
            }
            for k in session.scalars(select(SigningKey).order_by(SigningKey.created_at))
        ]
    emit(rows, as_json)


# -- backup --------------------------------------------------------------------------------


@main.command()
@click.argument("destination", type=click.Path(file_okay=False, path_type=Path))
@json_option
@pass_runtime
def backup(runtime: Runtime, destination: Path, as_json: bool) -> None:
    """Back up the database, the secrets and the audit anchors into DESTINATION.

    The node may keep serving. README.md ("Back up, restore, recover") says how to restore.
    """
    from config.backup import BackupError
    from config.backup import backup as make_backup

    _ready(runtime)
    try:
        manifest = make_backup(runtime.settings, runtime.db, destination.resolve())
    except (BackupError, OSError, sqlite3.Error) as exc:
        raise CliError(f"no backup made: {exc}") from None
    text = (
        f"backup of {manifest['issuer']} in {destination.resolve()}: "
        f"{', '.join(manifest['files'])} (secrets.json holds the keys' secrets: keep it safe)"
    )
    emit(manifest, as_json, text=text)


# -- issuer --------------------------------------------------------------------------------


@main.group()
def issuer() -> None:
    """The installation's issuer: fixed at the first start, moved only on purpose."""


@issuer.command("show")
@json_option
@pass_runtime
def issuer_show(runtime: Runtime, as_json: bool) -> None:
    """Print the issuer every token, certificate URL and QR code names."""
    _ready(runtime)
    emit({"issuer": runtime.settings.issuer}, as_json, text=runtime.settings.issuer)


@issuer.command("move")
@click.argument("new")
@json_option
@pass_runtime
def issuer_move(runtime: Runtime, new: str, as_json: bool) -> None:
    """Move the installation to the issuer NEW, saying what that changes."""
    from config import installation
    from config.settings import Settings, problems_of

    new = new.rstrip("/")
    ensure_schema(runtime)
    if bad := [p for p in problems_of(Settings(issuer=new)) if p.startswith("issuer")]:
        raise CliError(bad[0])
    old = installation.move_issuer(runtime.db, new, actor="cli")
    changes = [
        f"issuer moved: {old} -> {new}",
        "- discovery, tokens, ID tokens and logout now name the new issuer; tokens and "
        "sessions issued under the old one are refused (their 'iss' differs): services "
        "re-read discovery, citizens sign in again",
        "- certificates, CRLs and QR codes made from now on point at the new URLs (unless "
        "pki_url_base is set); those already issued keep the old ones, so keep the old "
        "host answering /pki/ or reissue them",
        "- redirect URIs of services are not changed; set ONETRIP_ISSUER to the new value "
        "(or unset it) on every node, then restart them",
    ]
    emit({"old": old, "new": new, "changes": changes[1:]}, as_json, text="\n".join(changes))


# -- audit ---------------------------------------------------------------------------------


@main.group()
def audit() -> None:
    """The append-only, keyed, hash-chained and anchored audit log."""


@audit.command("verify")
@json_option
@pass_runtime
def audit_verify(runtime: Runtime, as_json: bool) -> None:
    """Check the keyed chain and hold it against the anchors; exit 1 naming the first
    broken row and what was done to the log (edited, truncated, rewritten...)."""
    from config import audit_anchor

    path = runtime.settings.audit_anchors_path
    with _ready(runtime).db.read() as session:
        report = audit_anchor.verify(session, path)
    data = {
        "rows": report.rows,
        "intact": report.intact,
        "first_broken": report.first_broken,
        "kind": report.kind,
        "reason": report.reason,
        "anchors": report.anchors,
        "anchors_file": str(path),
    }
    if report.intact:
        held = f", held against {report.anchors} anchors" if report.anchors else ", no anchors yet"
        emit(data, as_json, text=f"audit log intact: {report.rows} rows{held} ({path})")
        return
    text = f"audit log BROKEN ({report.kind}) at row {report.first_broken}: {report.reason}"
    emit(data, as_json, text=text)
    sys.exit(1)


@audit.command("anchor")
@json_option
@pass_runtime
def audit_anchor_now(runtime: Runtime, as_json: bool) -> None:
    """Time-stamp the chain's head now and append the anchor to the anchors file."""
    from config import audit_anchor
    from idp.serve import audit_stamp

    _ready(runtime)
    try:
        record = audit_anchor.anchor(
            runtime.db, audit_stamp(runtime), runtime.settings.audit_anchors_path
        )
    except (audit_anchor.AnchorError, OSError) as exc:
        raise CliError(f"no anchor made: {exc}") from None
    summary = {k: record[k] for k in ("seq", "hash", "keyed_from", "at")}
    text = (
        f"anchored row {record['seq']} at {record['at']} in {runtime.settings.audit_anchors_path}"
    )
    emit(summary, as_json, text=text)


@audit.command("tail")
@click.option("-n", "limit", default=20, show_default=True, type=click.IntRange(1, 10000))
@json_option
@pass_runtime
def audit_tail(runtime: Runtime, limit: int, as_json: bool) -> None:
    """Show the newest events."""
    from config import audit as audit_log

    with _ready(runtime).db.read() as session:
        rows = [e.as_dict() for e in audit_log.tail(session, limit)]
    if as_json:
        emit(rows, True)
        return
    for r in rows:
        who = " ".join(f"{k}={r[k]}" for k in ("actor", "subject", "client_id", "ip") if r[k])
        click.echo(
            f"{r['seq']:>6}  {r['at']}  {r['event']:<22} {who}  "
            f"{json.dumps(r['details'], ensure_ascii=False)}"
        )


# -- migrate -------------------------------------------------------------------------------


@main.command()
@json_option
@pass_runtime
def migrate(runtime: Runtime, as_json: bool) -> None:
    """Bring the database schema to this version's revisions (as `serve` does at start)."""
    from config.migrate import stored_heads

    runtime.migrate()
    heads = sorted(stored_heads(runtime.db) or ())
    emit({"revisions": heads}, as_json, text=f"schema at {', '.join(heads)}")


# -- the other packages' commands, composed with idp's parts (see _PACKAGE_COMMANDS) -------


def _user_id(runtime: Runtime, username: str) -> int | None:
    from idp.users import find_user

    with runtime.db.read() as session:
        user = find_user(session, username)
        return user.id if user is not None else None


def _departments() -> click.Group:
    """signing's ``departments``, finding citizens through idp."""
    from signing.cli import departments_group

    return departments_group(_user_id)


def _faces() -> click.Group:
    """biometrics' ``faces``, finding citizens through idp, with idp's ``counter``
    enrolment (issue 13)."""
    from biometrics.cli import faces_group
    from idp.face_counter import counter_command

    faces = faces_group(_user_id)
    faces.add_command(counter_command)
    return faces


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
