"""The OAuth 2.0 / OpenID Connect machinery on Authlib.

Authlib validates the protocol: client authentication (``client_secret_basic``,
``client_secret_post``, ``private_key_jwt``, ``none``), authorization requests, PKCE and
token requests. Issuing is ours (:mod:`idp.tokens`): each grant's
``create_token_response`` writes the grant, its tokens and the audit event in one
transaction, which Authlib's save-token hook cannot do.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7523.client import ASSERTION_TYPE
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core.grants import OpenIDCode
from flask import request as flask_request
from joserfc import jwt
from joserfc.errors import JoseError

from config import audit
from config.db import epoch, utcnow
from config.outbound import OutboundError
from idp.claims import userinfo_claims
from idp.client_metadata import ASSERTION_ALGS
from idp.client_metadata import AUTH_METHODS as _METHODS
from idp.clients import client_keys
from idp.models import User
from idp.provider import Provider
from idp.token_endpoints import TokenRequest
from idp.tokens import TokenRejected, digest

AUTH_METHODS = list(_METHODS)
_NO_STORE = [
    ("Content-Type", "application/json"),
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
]


@dataclass
class EndUser:
    """The authenticated citizen behind an authorization request (from the SSO session)."""

    user_id: int
    username: str
    sid: str
    auth_time: int
    acr: str
    amr: list[str]
    scope: str  # what the citizen consented to: the code carries no more than this

    def get_user_id(self) -> int:
        return self.user_id

    @classmethod
    def from_session(cls, sso, scopes: list[str]) -> EndUser:
        return cls(
            user_id=sso.user_id,
            username=sso.username,
            sid=sso.sid,
            auth_time=sso.auth_time,
            acr=sso.acr,
            amr=sso.amr,
            scope=" ".join(scopes),
        )


@dataclass
class AuthorizationCode(EndUser):
    """What a code stands for: the citizen's session and consent, plus the request's binding."""

    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    code_hash: str = ""

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str:
        return self.acr

    def get_amr(self) -> list[str]:
        return self.amr


class S256Challenge(CodeChallenge):
    """PKCE with S256 only: required of public clients always (RFC 9700 2.1.1), and of
    confidential ones as the operator decided (:attr:`idp.clients.OAuthClient.require_pkce`),
    never as the client's metadata says. A confidential client exempted may still send it,
    and then it is checked."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if grant.request.client.require_pkce and not data.get("code_challenge"):
            raise InvalidRequestError(
                "PKCE is required: send code_challenge with code_challenge_method=S256.",
                redirect_uri=redirect_uri,
            )
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError(
                "Only code_challenge_method=S256 is supported.", redirect_uri=redirect_uri
            )
        return super().validate_code_challenge(grant, redirect_uri)


class OpenIDNonce(OpenIDCode):
    """Nonce checks only: ID tokens are issued in :class:`CodeGrant` itself."""

    def exists_nonce(self, nonce, request) -> bool:
        return False  # codes are single-use, so a nonce cannot come back through one

    def __call__(self, grant):
        from authlib.oidc.core.grants.util import is_openid_scope

        if is_openid_scope(grant.request.payload.scope):
            grant.register_hook(
                "after_validate_authorization_request_payload",
                self.validate_openid_authorization_request,
            )


class _IssueMixin:
    """Token issuing shared by the code and refresh grants."""

    server: OneTripServer

    def _token_body(
        self,
        *,
        client,
        user: User,
        grant,
        scope: str,
        refresh: str | None,
        nonce: str | None = None,
    ) -> dict:
        tokens = self.server.provider.tokens
        sub = tokens.subject_for(user, client)
        access = tokens.issue_access_token(
            client_id=client.client_id,
            scope=scope,
            sub=sub,
            grant_id=grant.id,
            auth_time=grant.auth_time,
            acr=grant.acr,
        )
        body = {
            "access_token": access.token,
            "token_type": "Bearer",
            "expires_in": access.expires_in,
            "scope": scope,
        }
        if refresh:
            body["refresh_token"] = refresh
        if "openid" in scope.split():
            claims = {
                "auth_time": grant.auth_time,
                "nonce": nonce,
                "acr": grant.acr,
                "amr": grant.amr,
                "sid": grant.sid,
            }
            body["id_token"] = tokens.issue_id_token(
                client=client, sub=sub, claims=claims, access_token=access.token
            )
        return body


class CodeGrant(_IssueMixin, grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def save_authorization_code(self, code: str, request) -> None:
        user: EndUser = request.user
        data = request.payload.data
        record = AuthorizationCode(
            **asdict(user),
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
        )
        self.server.provider.runtime.redis.set(
            f"code:{digest(code)}",
            json.dumps(asdict(record)),
            ex=self.server.provider.settings.authorization_code_ttl,
        )

    def query_authorization_code(self, code: str, client) -> AuthorizationCode | None:
        provider = self.server.provider
        if not code or len(code) > 200:
            return None
        key = digest(code)
        raw = provider.runtime.redis.getdel(f"code:{key}")
        if raw is None:
            replayed = provider.runtime.redis.get(f"code:used:{key}")
            if replayed:
                with provider.db.write() as session:
                    provider.tokens.revoke_grants(
                        session,
                        [replayed.decode()],
                        reason="authorization_code_replay",
                        actor=client.client_id,
                    )
                    audit.record(
                        session,
                        "token.code.replay",
                        client_id=client.client_id,
                        ip=self.request.client_ip,
                        grant_id=replayed.decode(),
                    )
            return None
        record = AuthorizationCode(**{**json.loads(raw), "code_hash": key})
        if record.client_id != client.client_id:
            return None
        return record

    def delete_authorization_code(self, authorization_code) -> None:
        """Nothing to do: the code was taken out of Redis atomically when it was read."""

    def authenticate_user(self, authorization_code: AuthorizationCode):
        with self.server.provider.db.read() as session:
            user = session.get(User, authorization_code.user_id)
        return user if user is not None and not user.disabled else None

    def create_token_response(self):
        provider = self.server.provider
        client, code = self.request.client, self.request.authorization_code
        user = self.authenticate_user(code)
        if user is None:
            raise InvalidGrantError("The account behind this code is no longer active.")
        with provider.db.write() as session:
            grant = provider.tokens.create_grant(
                session,
                user_id=user.id,
                client_id=client.client_id,
                scope=code.scope,
                sid=code.sid,
                auth_time=code.auth_time,
                acr=code.acr,
                amr=code.amr,
            )
            refresh = (
                provider.tokens.issue_refresh_token(session, grant, code.scope)
                if client.check_grant_type("refresh_token")
                else None
            )
            audit.record(
                session,
                "token.issue",
                subject=user.username,
                client_id=client.client_id,
                ip=self.request.client_ip,
                grant_type="authorization_code",
                grant_id=grant.id,
                scope=code.scope,
            )
        provider.runtime.redis.set(f"code:used:{code.code_hash}", grant.id, ex=600)
        provider.sso.add_client(code.sid, client.client_id)
        body = self._token_body(
            client=client,
            user=user,
            grant=grant,
            scope=code.scope,
            refresh=refresh,
            nonce=code.nonce,
        )
        return 200, body, _NO_STORE


@dataclass
class _PresentedRefresh:
    raw: str
    client_id: str

    def check_client(self, client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return ""


class RefreshGrant(_IssueMixin, grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def authenticate_refresh_token(self, refresh_token: str):
        # The real check happens atomically in create_token_response.
        client = self.request.client
        return _PresentedRefresh(refresh_token, client.client_id) if client else None

    def _validate_token_scope(self, token) -> None:
        """Scope is checked against the stored grant in :meth:`create_token_response`."""

    def create_token_response(self):
        provider = self.server.provider
        client = self.request.client
        try:
            grant, user, refresh, scope = provider.tokens.rotate_refresh_token(
                self.request.form.get("refresh_token"), client.client_id, self.request.payload.scope
            )
        except TokenRejected as exc:
            error = InvalidScopeError if exc.error == "invalid_scope" else InvalidGrantError
            raise error(str(exc)) from None
        body = self._token_body(client=client, user=user, grant=grant, scope=scope, refresh=refresh)
        return 200, body, _NO_STORE


class CredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def create_token_response(self):
        provider = self.server.provider
        client = self.request.client
        scope = client.get_allowed_scope(self.request.payload.scope or "")
        if self.request.payload.scope and not scope:
            raise InvalidScopeError()
        access = provider.tokens.issue_access_token(
            client_id=client.client_id, scope=scope, sub=client.client_id
        )
        provider.runtime.audit.record(
            "token.issue",
            client_id=client.client_id,
            ip=self.request.client_ip,
            grant_type="client_credentials",
            scope=scope,
            jti=access.jti,
        )
        return (
            200,
            {
                "access_token": access.token,
                "token_type": "Bearer",
                "expires_in": access.expires_in,
                "scope": scope,
            },
            _NO_STORE,
        )


class PrivateKeyJWT(JWTBearerClientAssertion):
    """``private_key_jwt`` client authentication (RFC 7523, OIDC Core 9).

    Nothing an assertion says is acted on before its signature is checked, except what
    finding the key takes, in this order:

    1. the client it names (``sub``) must be a ``private_key_jwt`` client: an assertion
       naming a secret-based client is refused at once, its keys never looked up;
    2. its keys come from its registration or the cache of its ``jwks_uri``
       (:func:`idp.clients.client_keys`): a slow or failing ``jwks_uri`` costs a token
       request at most the outbound deadline, and the ``kid`` an assertion names can make
       OneTrip refetch at most once per retry interval per client;
    3. the signature, with the algorithm the client registered, else those discovery lists;
    4. the claims, the ``jti`` replay check last, so forged assertions fill no replay cache.

    Authlib's ``__call__`` does steps 1 to 3 in another order (keys before the method), so
    it is written here.
    """

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, provider: Provider) -> None:
        super().__init__(validate_jti=True)
        self.provider = provider

    def __call__(self, query_client, request):
        try:
            return self._authenticate(query_client, request)
        except InvalidClientError as exc:
            exc.status_code = 401  # as for a wrong secret: whatever failed, the client did
            raise

    def _authenticate(self, query_client, request):
        data = request.form
        assertion = data.get("client_assertion")
        if data.get("client_assertion_type") != ASSERTION_TYPE or not assertion:
            return None
        headers, claims = self.extract_assertion(assertion)
        client_id = claims.get("sub")
        if not isinstance(client_id, str) or not client_id:
            raise InvalidClientError(description="The assertion names no client ('sub').")
        client = query_client(client_id)
        if client is None:
            raise InvalidClientError(description="The client does not exist on this server.")
        if client.auth_method != self.CLIENT_AUTH_METHOD:
            raise InvalidClientError(
                description="This client is not registered for private_key_jwt."
            )
        kid = headers.get("kid")
        registered = client.metadata.get("token_endpoint_auth_signing_alg")
        algs = [registered] if registered else list(ASSERTION_ALGS)
        if not isinstance(kid, str | None) or headers.get("alg") not in algs:
            raise InvalidClientError(description="The assertion's header is not acceptable.")
        try:
            keys = client_keys(client, self.provider.documents, kid)
            token = jwt.decode(assertion, keys, algorithms=algs)
        except OutboundError:
            raise InvalidClientError(description="The client's keys cannot be had now.") from None
        except (JoseError, ValueError):
            raise InvalidClientError(description="The assertion is not valid.") from None
        request.client = client
        self.verify_claims(token.claims)
        return client

    def get_audiences(self) -> list[str]:
        issuer = self.provider.settings.issuer
        return [issuer, f"{issuer}/oauth/token"]

    def validate_jti(self, claims, jti) -> bool:
        key = f"jti:{claims['iss']}:{hashlib.sha256(str(jti).encode()).hexdigest()}"
        ttl = max(int(claims.get("exp", 0) - time.time()) + 120, 120)
        return bool(self.provider.runtime.redis.set(key, 1, nx=True, ex=ttl))


def _token_type(hint: str | None, token: str) -> str:
    if hint in ("access_token", "refresh_token"):
        return hint
    return "access_token" if token.count(".") == 2 else "refresh_token"


class _FoundToken(dict):
    """A token found by :class:`_TokenLookup`, with the checks Authlib's endpoints call.

    Expired and revoked tokens are never found, so those checks are always false here.
    """

    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return False

    def check_client(self, client) -> bool:
        return _owner(self) == client.client_id


class _TokenLookup:
    """Finds a presented access or refresh token for introspection and revocation."""

    server: OneTripServer
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None):
        provider = self.server.provider
        if _token_type(token_type_hint, token_string) == "access_token":
            claims = provider.tokens.decode_access_token(token_string)
            if claims is not None:
                return _FoundToken(kind="access_token", claims=claims)
        with provider.db.read() as session:
            row = provider.tokens.find_refresh_token(session, token_string)
            if row is None:
                return None
            grant = provider.tokens.grant_for(session, row.grant_id)
            if grant is None or row.revoked_at or row.used_at or row.expires_at <= utcnow():
                return None
            user = session.get(User, grant.user_id)
            client = provider.clients.get(grant.client_id)
            sub = provider.tokens.subject_for(user, client) if user and client else None
            return _FoundToken(
                kind="refresh_token",
                grant_id=grant.id,
                client_id=grant.client_id,
                scope=row.scope,
                sub=sub,
                username=user.username if user else None,
                exp=epoch(row.expires_at),
                iat=epoch(row.issued_at),
            )


def _owner(token: dict) -> str:
    return token["claims"]["client_id"] if token["kind"] == "access_token" else token["client_id"]


class Introspection(_TokenLookup, IntrospectionEndpoint):
    def check_permission(self, token, client, request) -> bool:
        # A client may introspect its own tokens; a resource server registered with the
        # 'introspect' scope may introspect any.
        return _owner(token) == client.client_id or "introspect" in client.allowed_scopes

    def introspect_token(self, token) -> dict:
        if token["kind"] == "access_token":
            c = token["claims"]
            return {
                "active": True,
                "token_type": "Bearer",
                "scope": c.get("scope", ""),
                "client_id": c["client_id"],
                "sub": c["sub"],
                "exp": c["exp"],
                "iat": c["iat"],
                "iss": c["iss"],
                "aud": c["aud"],
                "jti": c["jti"],
            }
        return {
            "active": True,
            "token_type": "refresh_token",
            "scope": token["scope"],
            "client_id": token["client_id"],
            "sub": token["sub"],
            "exp": token["exp"],
            "iat": token["iat"],
            "iss": self.server.provider.settings.issuer,
        }

    def create_endpoint_response(self, request):
        status, body, _ = super().create_endpoint_response(request)
        return status, body, _NO_STORE


class Revocation(_TokenLookup, RevocationEndpoint):
    def revoke_token(self, token, request) -> None:
        provider = self.server.provider
        client = request.client
        if _owner(token) != client.client_id:
            return  # RFC 7009 2.2: answer 200 without revoking another client's token
        with provider.db.write() as session:
            if token["kind"] == "access_token":
                provider.tokens.revoke_access_token(session, token["claims"])
                audit.record(
                    session,
                    "token.revoke",
                    client_id=client.client_id,
                    ip=request.client_ip,
                    kind="access_token",
                    jti=token["claims"]["jti"],
                )
            else:
                # Revoking a refresh token ends its grant, access tokens included (RFC 7009 2.1).
                provider.tokens.revoke_grants(
                    session, [token["grant_id"]], reason="revoked", actor=client.client_id
                )
                audit.record(
                    session,
                    "token.revoke",
                    client_id=client.client_id,
                    ip=request.client_ip,
                    kind="refresh_token",
                    grant_id=token["grant_id"],
                )


class OneTripServer(AuthorizationServer):
    def __init__(self, provider: Provider) -> None:
        super().__init__()
        self.provider = provider
        self.register_grant(CodeGrant, [S256Challenge(required=True), OpenIDNonce()])
        self.register_grant(RefreshGrant)
        self.register_grant(CredentialsGrant)
        self.register_client_auth_method(PrivateKeyJWT.CLIENT_AUTH_METHOD, PrivateKeyJWT(provider))
        self.register_endpoint(Introspection(self))
        self.register_endpoint(Revocation(self))

    def create_oauth2_request(self, request):
        """A :class:`TokenRequest` as it is; else one from Flask's, with its caller's address."""
        if isinstance(request, TokenRequest):
            return request
        built = super().create_oauth2_request(request)
        built.client_ip = flask_request.remote_addr or ""
        return built

    def query_client(self, client_id):
        return self.provider.clients.get(client_id)

    def save_token(self, token, request) -> None:
        """Unused: grants store their tokens themselves (see the module docstring)."""

    def handle_response(self, status_code, payload, headers):
        headers = [h for h in headers if h[0].lower() != "cache-control"]
        headers += [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
        return super().handle_response(status_code, payload, headers)


def user_claims(provider: Provider, user: User, client, scope: str) -> dict:
    """UserInfo claims for a token's scope, with the ``sub`` this client sees."""
    return {"sub": provider.tokens.subject_for(user, client), **userinfo_claims(user, scope)}
