"""Hypothesis strategies for malformed requests: parameters, headers, JSON, forms, DER and
PDFs, mixed with real values of the server under test (a client's id and secret, its
redirect URI, tokens, a session and its CSRF token) so that requests get past the first
check and reach the code behind it."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

#: Parameter names the endpoints read, and a few they do not.
PARAMETERS = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "acr_values",
    "login_hint",
    "ui_locales",
    "id_token_hint",
    "post_logout_redirect_uri",
    "request",
    "request_uri",
    "grant_type",
    "code",
    "refresh_token",
    "code_verifier",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "token",
    "token_type_hint",
    "resource",
    "csrf_token",
    "username",
    "password",
    "decision",
    "consented",
    "confirm",
    "interaction",
    "step",
    "challenge",
    "department",
    "departments",
    "level",
    "reason",
    "format",
    "stamp",
    "x",
]

#: Strings that broke parsers before: non-ASCII, quotes, controls, escapes, long, empty.
NASTY = [
    "",
    " ",
    "\x00",
    "\x01\x7f",
    "é",
    "中文",
    '"',
    "'\"<>",
    "\\",
    "\n",
    "\r\n",
    "\t",
    "%",
    "%zz",
    "%00",
    "%C3%A9",
    "../../../etc/passwd",
    "javascript:alert(1)",
    "code token",
    "none login",
    "-1",
    "1e309",
    "99999999999999999999",
    "²",
    "x" * 5000,
    "openid" + " openid" * 300,
    "\u202e",
    "\ufeff",
    "\U0001f600",
]

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=64)
_HEADER_TEXT = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"), max_size=80
).map(str.strip)


@dataclass
class Context:
    """Real values of the server under test, for requests to get further in."""

    client_id: str = ""
    client_secret: str = ""
    redirect_uri: str = ""
    public_client_id: str = ""
    keyed_client_id: str = ""
    registered_client_id: str = ""
    registration_token: str = ""
    initial_token: str = ""
    access_token: str = ""
    username: str = ""
    cookies: dict[str, str] = field(default_factory=dict)
    csrf_token: str = ""

    def values(self) -> list[str]:
        found = [
            self.client_id,
            self.client_secret,
            self.redirect_uri,
            self.public_client_id,
            self.keyed_client_id,
            self.registered_client_id,
            self.access_token,
            self.csrf_token,
            "code",
            "S256",
            "openid profile email",
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "a.b.c",
            "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        ]
        return [v for v in found if v]


def values(context: Context) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(NASTY), st.sampled_from(context.values()), _TEXT)


def _base(context: Context) -> list[tuple[str, str]]:
    """What a well-behaved caller sends (an authorization or token request, a form with
    its CSRF token), for the fuzzer to break one piece at a time."""
    return [
        ("response_type", "code"),
        ("client_id", context.client_id),
        ("redirect_uri", context.redirect_uri),
        ("scope", "openid profile"),
        ("state", "state-1"),
        ("nonce", "nonce-1"),
        ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
        ("code_challenge_method", "S256"),
        ("grant_type", "authorization_code"),
        ("code", "not-a-code"),
        ("code_verifier", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        ("csrf_token", context.csrf_token),
        ("decision", "allow"),
        ("username", "citizen"),
        ("password", "correct horse battery staple"),
    ]


def broken_base(context: Context) -> st.SearchStrategy[list[tuple[str, str]]]:
    """A well-behaved request's parameters with up to three values replaced, up to three
    dropped and up to two pairs added."""
    base = _base(context)
    names = st.one_of(st.sampled_from(PARAMETERS), _TEXT)

    def broken(replaced: dict[int, str], dropped: set[int], added: list) -> list:
        kept = [
            (name, replaced.get(i, value))
            for i, (name, value) in enumerate(base)
            if i not in dropped
        ]
        return kept + added

    indexes = st.integers(0, len(base) - 1)
    return st.builds(
        broken,
        st.dictionaries(indexes, values(context), max_size=3),
        st.sets(indexes, max_size=3),
        st.lists(st.tuples(names, values(context)), max_size=2),
    )


def parameters(context: Context) -> st.SearchStrategy[list[tuple[str, str]]]:
    """A broken well-behaved request's parameters, or random pairs."""
    names = st.one_of(st.sampled_from(PARAMETERS), _TEXT)
    return st.one_of(broken_base(context), st.lists(st.tuples(names, values(context)), max_size=8))


# -- bodies ------------------------------------------------------------------------------


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
)

METADATA_FIELDS = [
    "client_name",
    "redirect_uris",
    "grant_types",
    "response_types",
    "token_endpoint_auth_method",
    "scope",
    "jwks",
    "jwks_uri",
    "sector_identifier_uri",
    "subject_type",
    "logo_uri",
    "policy_uri",
    "tos_uri",
    "client_uri",
    "default_max_age",
    "require_auth_time",
    "default_acr_values",
    "backchannel_logout_uri",
    "post_logout_redirect_uris",
    "id_token_signed_response_alg",
    "client_id",
    "client_secret",
]

#: URLs whose hosts never lead off this machine (the server refuses or reaches loopback).
_URLS = st.sampled_from(
    [
        "https://127.0.0.1/cb",
        "http://127.0.0.1:9/cb",
        "http://localhost:1/x",
        "http://[::1]:1/x",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.1/jwks",
        "http://0.0.0.0:6379/",
        "javascript:alert(1)",
        "data:text/html,x",
        "https://user:pw@127.0.0.1/",
        "https://127.0.0.1:99999/",
        "https:///nohost",
        "http://127.0.0.1:9/cb#frag",
        'http://127.0.0.1:9/"quoted"',
        "http://127.0.0.1:9/caf\u00e9",
    ]
)


def json_bodies(context: Context) -> st.SearchStrategy[bytes]:
    """Client metadata that is nearly right, any JSON, and JSON that is not."""
    changes = st.dictionaries(
        st.sampled_from(METADATA_FIELDS),
        st.one_of(_json_values, _URLS, st.lists(_URLS, max_size=3), values(context)),
        max_size=4,
    )
    metadata = changes.map(
        lambda changed: (
            {"client_name": "Fuzzed", "redirect_uris": ["http://127.0.0.1:9/cb"]} | changed
        )
    )
    return st.one_of(
        st.builds(json.dumps, metadata).map(str.encode),
        st.builds(json.dumps, _json_values).map(str.encode),
        st.sampled_from([b"{", b"[", b'{"a":', b"null", b"\xff\xfe", _deep(100), _deep(50_000)]),
    )


def form_bodies(context: Context) -> st.SearchStrategy[bytes]:
    return st.one_of(
        parameters(context).map(lambda pairs: urlencode(pairs).encode()),
        st.sampled_from([b"a=%zz&b=%", b"&&&===", b"a" * 10_000, b"\x00=\x00"]),
    )


def _der(depth: int = 0) -> st.SearchStrategy[bytes]:
    """ASN.1-looking bytes: a tag, a length that may lie, and contents."""
    contents = (
        st.binary(max_size=40) if depth > 2 else st.one_of(st.binary(max_size=40), _der(depth + 1))
    )
    return st.builds(
        lambda tag, lie, body: bytes([tag]) + _length(len(body) + lie) + body,
        st.sampled_from([0x30, 0x31, 0x02, 0x04, 0x06, 0xA0, 0x80, 0x05]),
        st.sampled_from([0, 0, 1, -1, 1000, 2**24]),
        contents,
    )


def _length(n: int) -> bytes:
    n = max(n, 0)
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


DER = _der()

_PDF_HEAD = b"%PDF-1.7\n"


def pdf(*objects: bytes, trailer: bytes = b"/Root 1 0 R") -> bytes:
    """A PDF with a correct cross-reference table around ``objects`` (numbered from 1), so
    a parser gets past the structure to the part that is wrong."""
    out, offsets = bytearray(_PDF_HEAD), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    size = b"/Size %d " % (len(objects) + 1)
    out += b"trailer\n<< " + size + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


_CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
_PAGES = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
_PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"
_SIGNED_CATALOG = b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [4 0 R] /SigFlags 3 >> >>"
_FIELD = (
    b"<< /FT /Sig /T (Signature1) /V 5 0 R /Type /Annot /Subtype /Widget /Rect [0 0 0 0]"
    b" /P 3 0 R >>"
)


def _signature(byte_range: bytes) -> bytes:
    return (
        b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /adbe.pkcs7.detached /ByteRange "
        + byte_range
        + b" /Contents <3082000130> >>"
    )


PDFS = st.one_of(
    st.sampled_from(
        [
            pdf(_CATALOG, _PAGES, _PAGE),  # a good one, to reach what follows parsing
            pdf(_CATALOG, _PAGES, _PAGE, trailer=b""),  # no Root
            pdf(_SIGNED_CATALOG, _PAGES, _PAGE, _FIELD, _signature(b"[0 -5 99999999 10]")),
            pdf(_SIGNED_CATALOG, _PAGES, _PAGE, _FIELD, _signature(b"[0 10 20]")),
            pdf(_SIGNED_CATALOG, _PAGES, _PAGE, _FIELD, _signature(b"(not an array)")),
            pdf(b"<< /Type /Catalog /Pages 2 0 R /Nested 4 0 R >>", _PAGES, _PAGE, _deep(50_000)),
            pdf(_CATALOG, b"<< /Type /Pages /Kids [3 0 R] /Count 20000 >>", _PAGE),
            pdf(_CATALOG, b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>"),  # a cycle
            _PDF_HEAD + b"trailer << /Root 1 0 R /Size -1 >>\nstartxref\n-99\n%%EOF",
            b"%PDF-",
            b"",
        ]
    ),
    st.binary(max_size=200).map(lambda b: _PDF_HEAD + b),
)

IMAGES = st.one_of(
    st.binary(max_size=100),
    st.sampled_from(
        [
            b"\x89PNG\r\n\x1a\n" + b"\x00" * 30,
            b"\xff\xd8\xff\xe0" + b"\x00" * 30,
            b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 20,
            b"GIF89a\xff\xff\xff\xff" + b"\x00" * 20,
        ]
    ),
)


def multipart_bodies(context: Context) -> st.SearchStrategy[tuple[dict, list]]:
    """(form fields, files) for requests' ``data`` and ``files``: a PDF as ``file``, images
    as ``photo`` and ``frames``, so whichever of them an endpoint reads is there."""
    files = st.tuples(
        st.tuples(st.just("file"), st.one_of(PDFS, PDFS, DER)),
        st.tuples(st.just("photo"), IMAGES),
        st.tuples(st.just("frames"), IMAGES),
        st.tuples(st.just("frames"), st.one_of(IMAGES, st.binary(max_size=64))),
    ).map(list)
    fields = st.dictionaries(st.sampled_from(PARAMETERS), values(context), max_size=4)
    return st.tuples(fields, files)


# -- whole requests ------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes | None = None
    form: dict | None = None
    files: list | None = None

    def describe(self) -> str:
        size = len(self.body) if self.body is not None else None
        return (
            f"{self.method} {self.path} query={self.query!r:.300} headers={self.headers!r:.300} "
            f"body={self.body[:200] if self.body else None!r} ({size} bytes) "
            f"form={self.form!r:.200} files={[(n, len(b)) for n, b in self.files or []]}"
        )


def _basic(user: str, password: str) -> str:
    raw = f"{user}:{password}".encode("utf-8", "surrogatepass")
    return "Basic " + base64.b64encode(raw).decode()


def headers(context: Context) -> st.SearchStrategy[dict[str, str]]:
    bearer = st.sampled_from(
        [f"Bearer {t}" for t in (context.access_token, context.initial_token) if t]
    )
    authorization = st.one_of(
        st.none(),
        bearer,
        bearer,
        st.just(_basic(context.client_id, context.client_secret)),
        st.builds(_basic, values(context), values(context)),
        _HEADER_TEXT.map(lambda t: f"Bearer {t}"),
        _HEADER_TEXT.map(lambda t: f"Basic {t}"),
        _HEADER_TEXT,
    )
    content_type = st.one_of(
        st.none(),
        st.sampled_from(
            [
                "application/x-www-form-urlencoded",
                "application/json",
                "application/ocsp-request",
                "application/timestamp-query",
                "application/pkcs10",
                "text/plain",
                "application/json; charset=latin-1",
                "multipart/form-data",
                "multipart/form-data; boundary=",
            ]
        ),
        _HEADER_TEXT,
    )
    extra = st.fixed_dictionaries(
        {},
        optional={
            "Accept": st.sampled_from(["text/html", "application/json", "*/*", "image/*", "x"]),
            "Accept-Language": st.one_of(st.sampled_from(["zh-CN", "en;q=x", "*"]), _HEADER_TEXT),
            "X-Request-Id": _HEADER_TEXT,
            "Origin": st.one_of(st.just("https://app.example"), _HEADER_TEXT),
            "X-Forwarded-For": _HEADER_TEXT,
        },
    )
    cookie = st.one_of(
        st.none(), st.just("; ".join(f"{k}={v}" for k, v in context.cookies.items())), _HEADER_TEXT
    )
    return st.builds(
        lambda auth, ctype, jar, more: {
            **({"Authorization": auth} if auth else {}),
            **({"Content-Type": ctype} if ctype else {}),
            **({"Cookie": jar} if jar else {}),
            **more,
        },
        authorization,
        content_type,
        cookie,
        extra,
    )


def path_values(context: Context) -> st.SearchStrategy[str]:
    """Values for a URL rule's variables (``<client_id>``, ``<path:filename>``, ...)."""
    raw = st.one_of(
        st.sampled_from(
            [
                context.client_id,
                context.registered_client_id,
                context.public_client_id,
                "x",
                "root.pem",
                "ca.der",
            ]
        ),
        st.sampled_from(NASTY[1:]),
        _TEXT.filter(bool),
    )
    return raw.map(lambda v: quote(v, safe="") or "x")


def _polite_headers(context: Context) -> st.SearchStrategy[dict[str, str]]:
    """The headers of a signed-in browser or an authenticated service, one of them broken
    now and then."""
    jar = "; ".join(f"{k}={v}" for k, v in context.cookies.items())
    tokens = (context.access_token, context.initial_token, context.registration_token)
    credentials = [f"Bearer {t}" for t in tokens if t]
    credentials.append(_basic(context.client_id, context.client_secret))
    good = st.builds(
        lambda auth, accept: {"Cookie": jar, "Authorization": auth, "Accept": accept},
        st.sampled_from(credentials),
        st.sampled_from(["text/html", "application/json", "*/*"]),
    )
    broken = st.tuples(st.sampled_from(["Cookie", "Authorization", "Accept"]), _HEADER_TEXT)
    return st.builds(
        lambda headers, damage: {**headers, **dict(damage)},
        good,
        st.lists(broken, max_size=1),
    )


#: The kinds of body an endpoint may read; each POST and PUT is fuzzed with every kind.
BODY_KINDS = ("form", "json", "multipart", "raw")


def _bodies(context: Context, kind: str, polite: bool) -> st.SearchStrategy[dict]:
    """Bodies of one kind, with the Content-Type that goes with it when ``polite``."""
    if kind == "form":
        pairs = broken_base(context) if polite else parameters(context)
        bodies = st.one_of(pairs.map(lambda p: urlencode(p).encode()), form_bodies(context))
        content_type = "application/x-www-form-urlencoded"
    elif kind == "json":
        bodies, content_type = json_bodies(context), "application/json"
    elif kind == "multipart":
        fields = broken_base(context) if polite else parameters(context)
        return st.tuples(fields, multipart_bodies(context)).map(
            lambda m: {"form": dict(m[0]) | m[1][0], "files": m[1][1]}
        )
    else:
        bodies = st.one_of(DER, PDFS, st.binary(max_size=256))
        content_type = "application/ocsp-request"
    if polite:
        return bodies.map(lambda b: {"body": b, "content_type": content_type})
    return bodies.map(lambda b: {"body": b})


def requests_for(method: str, path: st.SearchStrategy[str], context: Context, kind: str | None):
    """Requests for one endpoint with bodies of one ``kind`` (None: no body): two in three
    from a well-behaved caller with something broken (so they reach the code past the
    checks of who is calling), one in three chaos."""

    def build(path: str, query: list, headers: dict, body: dict) -> Request:
        content_type = body.pop("content_type", None)
        if content_type:
            headers = {**headers, "Content-Type": content_type}
        return Request(method, path, query, headers, **body)

    def requests(polite: bool):
        return st.builds(
            build,
            path,
            broken_base(context) if polite else parameters(context),
            _polite_headers(context) if polite else headers(context),
            _bodies(context, kind, polite) if kind else st.just({}),
        )

    return st.one_of(requests(True), requests(True), requests(False))
