"""The token, introspection and revocation endpoints, served ahead of Flask.

Services' back ends call these three (and single-page apps the token and revocation
endpoints, from their own origin); no cookie, page, session or CSRF token is involved.
Authlib checks every request here as it would through Flask: the same grants, client
authentication and endpoints on the same server object. Only the wrapping differs: Flask's
(request context, URL routing, session, hooks) costs about as much CPU as a grant itself,
so the composition root (:func:`idp.app.create_app`) puts :class:`TokenEndpoints` between
the request-id and metrics wrapper (:mod:`idp.ops`) and the Flask app; bench/oidc.py
measures the difference.

What the two sides share, so that they cannot disagree: the headers and the CORS rule
(:func:`idp.security.endpoint_headers`), the JSON error answers (:mod:`idp.errors`), the
request id, metrics and access log (:mod:`idp.ops`, which reads the endpoint's name that
this module puts in the environ). Every list is computed once, at construction.

Authlib's core server takes any :class:`~authlib.oauth2.rfc6749.OAuth2Request`; what its
Flask integration adds is building one from Flask's request. Authlib has nothing that
builds one from a WSGI environ, so :class:`TokenRequest` is written here. It reads
parameters from the form body only, where RFC 6749 3.2 puts them (Authlib's Flask
integration also took them from the query string), and refuses a repeated one, as 3.2
requires and Authlib checks only at the authorization endpoint.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.errors import InsecureTransportError, InvalidClientError
from werkzeug.datastructures import EnvironHeaders, MultiDict
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    MethodNotAllowed,
    RequestEntityTooLarge,
)
from werkzeug.wrappers import Response
from werkzeug.wsgi import get_input_stream

from config import metrics
from config.settings import Settings
from idp import errors
from idp.ops import ENDPOINT_KEY
from idp.security import (
    CORS_ENDPOINTS,
    CORS_PREFLIGHT,
    endpoint_headers,
    response_headers,
    set_defaults,
)

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
_FORM = "application/x-www-form-urlencoded"
_REPEATABLE = frozenset({"resource"})  # RFC 8707 2.1


class _FormPayload(OAuth2Payload):
    def __init__(self, form: MultiDict) -> None:
        self._form = form

    @property
    def data(self) -> MultiDict:
        return self._form

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._form.to_dict(flat=False)


class _Headers(EnvironHeaders):
    """The request's headers, read from the environ when asked for.

    Always true: Authlib keeps ``headers or {}``, and the length behind an
    :class:`EnvironHeaders`' truth walks the whole environ (a tenth of a grant's CPU).
    """

    def __bool__(self) -> bool:
        return True


class TokenRequest(OAuth2Request):
    """An OAuth 2.0 request read straight from a WSGI environ and its form body."""

    def __init__(self, environ: dict, form: MultiDict) -> None:
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        uri = f"{environ['wsgi.url_scheme']}://{host}{path}"
        super().__init__(environ["REQUEST_METHOD"], uri, headers=_Headers(environ))
        self.payload = _FormPayload(form)
        self.client_ip = environ.get("REMOTE_ADDR") or ""

    @property
    def form(self) -> MultiDict:
        return self.payload.data


def _refuse_repeats(form: MultiDict) -> None:
    repeated = sorted(
        name for name in form if name not in _REPEATABLE and len(form.getlist(name)) > 1
    )
    if repeated:
        raise BadRequest(
            f"Send each parameter once (RFC 6749 3.2); repeated: {', '.join(repeated)}."
        )


def _check_basic_credentials(environ: dict) -> None:
    """Refuse HTTP Basic credentials whose base64 is not UTF-8 text as ``invalid_client``.

    Authlib decodes them as UTF-8 without catching a failure, which would answer 500.
    """
    scheme, _, credentials = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "basic":
        return
    try:
        base64.b64decode(credentials.strip()).decode("utf-8")
    except binascii.Error:
        return  # Authlib treats text that is not base64 as no credentials
    except UnicodeDecodeError:
        raise InvalidClientError(
            description="The Basic credentials are not UTF-8 text (RFC 7617).",
            status_code=401,
        ) from None


class TokenEndpoints:
    """WSGI middleware: answers the three endpoints itself and hands every other path on."""

    def __init__(self, app: WSGIApp, server: AuthorizationServer, settings: Settings) -> None:
        self.app = app
        self.server = server
        self.max_form_bytes = settings.max_form_bytes
        answers = {
            "/oauth/token": ("token.token", self._token),
            "/oauth/introspect": ("token.introspect", self._endpoint("introspection")),
            "/oauth/revoke": ("token.revoke", self._endpoint("revocation")),
        }
        no_store = ("Cache-Control", "no-store")
        preflight = [*CORS_PREFLIGHT, *response_headers(settings), no_store]
        # path: (name, answer, its headers, its answer to a CORS preflight if it has one)
        self.routes: dict[str, tuple[str, Callable, list, list | None]] = {
            path: (
                name,
                answer,
                [*endpoint_headers(settings, name), no_store],
                preflight if name in CORS_ENDPOINTS else None,
            )
            for path, (name, answer) in answers.items()
        }

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        route = self.routes.get(environ.get("PATH_INFO", ""))
        if route is None:
            return self.app(environ, start_response)
        name, answer, defaults, preflight = route
        environ[ENDPOINT_KEY] = name
        if preflight and environ["REQUEST_METHOD"] == "OPTIONS":
            start_response("204 No Content", list(preflight))
            return []
        try:
            _check_basic_credentials(environ)
            response = answer(TokenRequest(environ, self._form(environ)))
        except InvalidClientError as exc:
            response = self.server.handle_error_response(None, exc)
        except HTTPException as exc:
            response = errors.json_http_error(exc)
        except InsecureTransportError as exc:  # plain http to a host that is not loopback
            response = self.server.handle_error_response(None, exc)
        except Exception as exc:  # what Flask's error handler would do: 503 or 500, logged
            response = errors.json_failure(exc, environ)
        headers = response.headers
        set_defaults(headers, defaults)
        # The whole body as a list: servers such as granian then send it in one write.
        start_response(response.status, headers.to_wsgi_list())
        return [response.get_data()]

    def _form(self, environ: dict) -> MultiDict:
        """The form of a POST: 405 for another method (OPTIONS included where browsers
        may not call), 413 past the limit, 400 for a parameter sent twice."""
        if environ["REQUEST_METHOD"] != "POST":
            raise MethodNotAllowed(valid_methods=["POST"])
        content_type = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        if content_type != _FORM:
            return MultiDict()  # Authlib then answers invalid_request or unsupported_grant_type
        # Reading one byte past the limit shows a body over it, sent in chunks or not.
        body = get_input_stream(environ, max_content_length=self.max_form_bytes + 1).read()
        if len(body) > self.max_form_bytes:
            raise RequestEntityTooLarge()
        # Blank values are dropped: RFC 6749 3.2 treats them as omitted.
        pairs = parse_qsl(body.decode("utf-8", "replace"))
        form = MultiDict(pairs)
        if len(form) < len(pairs):  # some name came more than once
            _refuse_repeats(form)
        return form

    def _token(self, request: TokenRequest) -> Response:
        response = self.server.create_token_response(request)
        metrics.token_grant(request.payload.grant_type, response.status_code)
        return response

    def _endpoint(self, name: str) -> Callable[[TokenRequest], Response]:
        return lambda request: self.server.create_endpoint_response(name, request)
