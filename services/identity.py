"""Caller identity: projected Kubernetes service account tokens, verified per request.

Every request but the health probes and the metrics scrape carries
``Authorization: Bearer <token>``: a service account token the kubelet projects into the
caller's pod with the platform's audience (``mlplat``), signed by the cluster's OIDC
issuer. :class:`TokenVerifier` checks it against the issuer's published keys (JWKS),
fetched over HTTPS with a short timeout, cached, and fetched again when a token names a
key id the cache lacks (the issuer rotated its keys), at most once per
``refetch_interval_s``. Signature, ``iss``, ``aud``, ``exp``, ``nbf`` and ``iat`` are
checked with a small clock-skew leeway; the ``kubernetes.io`` claims give the caller's
namespace and service account, which :class:`~mlplat.access.AccessPolicy` maps to the
``Caller`` the specs name.

:func:`protect` wraps an ASGI app: no token or a bad one is a 401 before the app runs;
the verified caller is left in the request scope (:func:`caller_of`) for the handlers'
per-request authorization (403, :class:`Authorizer`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

import httpx
import jwt
from prometheus_client import CollectorRegistry, Counter
from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from mlplat.access import ANONYMOUS, AccessPolicy, Action, CallerIdentity, Principal
from mlplat.catalog import Catalog
from mlplat.errors import MlplatError, UsageError
from services.errors import clip
from services.settings import EnvironmentSettings

log = logging.getLogger("mlplat.identity")

#: The audience platform tokens carry: a token projected for anything else (the API
#: server, AWS) is refused, so a token stolen from one audience is no key to another.
DEFAULT_AUDIENCE = "mlplat"
#: Signature algorithms accepted: RS256, what EKS signs service account tokens with.
#: ``none`` and the HMAC family are never accepted (a public key must not double as a
#: shared secret); a cluster signing with ECDSA keys would add ES256 here.
ALGORITHMS = ("RS256",)
#: Where the verified caller is kept in the ASGI scope.
SCOPE_KEY = "mlplat.caller"
_CACHE_LIMIT = 4096


class AuthenticationError(MlplatError):
    """No token, or one that does not verify (401). ``reason`` is a short, bounded label for metrics."""

    http_status = 401

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.public_message = message


class ForbiddenError(MlplatError):
    """A verified caller lacks a grant the request needs (403); the message names it."""

    http_status = 403

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.public_message = message


class IdentityUnavailableError(MlplatError):
    """The issuer's keys could not be fetched and none are cached (503, not the caller's fault)."""

    http_status = 503
    public_message = "caller identity cannot be verified now (issuer keys unavailable)"


def _auth(suffix: str) -> str:
    """The variable ``MLPLAT_AUTH<suffix>``. Only it is read: a bare ``ISSUER`` in the environment is not."""
    return f"MLPLAT_AUTH{suffix}"


def _unset_if_empty(value: object) -> object:
    """An empty variable is one left out (``mlplat up`` clears the cluster's this way)."""
    return None if value == "" else value


class IdentitySettings(EnvironmentSettings):
    """How tokens are verified, read from the ``MLPLAT_AUTH*`` variables (:meth:`from_environment`).

    Each field's docstring names its variable and default; a wrong value fails start-up
    naming the variable, the value and what is accepted, as every service setting does.
    """

    # Keywords name fields (``IdentitySettings(issuer=...)``); the environment only its variables.
    model_config = SettingsConfigDict(validate_by_name=True)

    enabled: bool = Field(default=True, validation_alias=_auth(""))
    """MLPLAT_AUTH: ``on`` (verify caller tokens) or ``off``. Off serves every request as ``anonymous`` and logs a warning at start; never in a deployed stack. Default ``on``."""
    issuer: str | None = Field(default=None, validation_alias=_auth("_ISSUER"))
    """MLPLAT_AUTH_ISSUER: the cluster's OIDC issuer URL, exactly the tokens' ``iss`` (on EKS, the cluster's ``identity.oidc.issuer``). Required when on."""
    jwks_url: str | None = Field(default=None, validation_alias=_auth("_JWKS_URL"))
    """MLPLAT_AUTH_JWKS_URL: the issuer's key set. Default: the ``jwks_uri`` of ``<issuer>/.well-known/openid-configuration``. On a cluster, the API server's ``https://kubernetes.default.svc/openid/v1/jwks``: the same keys, inside the VPC."""
    jwks_token_file: Path | None = Field(default=None, validation_alias=_auth("_JWKS_TOKEN_FILE"))
    """MLPLAT_AUTH_JWKS_TOKEN_FILE: a token file sent as the bearer of each key-set fetch, re-read every time (the kubelet renews it): the pod's own service account token, which the API server's issuer discovery role admits. Only with MLPLAT_AUTH_JWKS_URL (never sent to a discovered key set). Default: none."""
    jwks_ca_file: Path | None = Field(default=None, validation_alias=_auth("_JWKS_CA_FILE"))
    """MLPLAT_AUTH_JWKS_CA_FILE: the CA bundle the key set's HTTPS is verified with (the cluster CA, ``kube-root-ca.crt``). Default: the system's."""
    audience: str = Field(default=DEFAULT_AUDIENCE, min_length=1, validation_alias=_auth("_AUDIENCE"))
    """MLPLAT_AUTH_AUDIENCE: the ``aud`` tokens must carry. Default ``mlplat``."""
    leeway_s: float = Field(default=30.0, ge=0, le=300, validation_alias=_auth("_LEEWAY_SECONDS"))
    """MLPLAT_AUTH_LEEWAY_SECONDS: clock skew allowed on ``exp``/``nbf``/``iat``, 0 to 300. Default 30."""
    fetch_timeout_s: float = Field(default=2.0, gt=0, le=30, validation_alias=_auth("_FETCH_TIMEOUT_SECONDS"))
    """MLPLAT_AUTH_FETCH_TIMEOUT_SECONDS: seconds one key-set (or discovery) fetch may take. Default 2."""
    keys_max_age_s: float = Field(default=3600.0, ge=0, le=86_400, validation_alias=_auth("_KEYS_MAX_AGE_SECONDS"))
    """MLPLAT_AUTH_KEYS_MAX_AGE_SECONDS: cached keys are fetched again after this long, or after the key set's ``Cache-Control: max-age`` when that is shorter. Default 3600: EKS throttles its OIDC endpoint and asks clients to cache the keys, and rotates them every 7 days (https://docs.aws.amazon.com/eks/latest/userguide/irsa-fetch-keys.html); a token signed with a new key is met by a refetch anyway."""
    refetch_interval_s: float = Field(default=10.0, ge=0, le=3600, validation_alias=_auth("_REFETCH_INTERVAL_SECONDS"))
    """MLPLAT_AUTH_REFETCH_INTERVAL_SECONDS: an unknown key id triggers at most one fetch per this interval, so forged key ids cannot turn requests into fetches. Default 10."""
    max_lifetime_s: float = Field(default=86400.0, gt=0, le=7 * 86_400, validation_alias=_auth("_MAX_LIFETIME_SECONDS"))
    """MLPLAT_AUTH_MAX_LIFETIME_SECONDS: tokens valid for longer (``exp - iat``) are refused. Default 86400; projected tokens last an hour and the kubelet renews them."""

    @field_validator("enabled", mode="before")
    @classmethod
    def _on_or_off(cls, value: object) -> object:
        if isinstance(value, bool):
            return value
        mode = str(value).strip().lower()
        if mode not in ("on", "off"):
            raise ValueError("use 'on' (verify caller tokens) or 'off'")
        return mode == "on"

    @field_validator("issuer", "jwks_url", "jwks_token_file", "jwks_ca_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return _unset_if_empty(value)

    @field_validator("audience", mode="before")
    @classmethod
    def _empty_is_default(cls, value: object) -> object:
        return DEFAULT_AUDIENCE if value == "" else value

    @field_validator("issuer", "jwks_url")
    @classmethod
    def _keys_over_https(cls, value: str | None) -> str | None:
        problem = url_problem(value) if value is not None else None
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("jwks_token_file", "jwks_ca_file")
    @classmethod
    def _mounted(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("is not a file; mount it (a projected volume) or leave the variable out")
        return value

    @model_validator(mode="after")
    def _issuer_when_on(self) -> Self:
        if self.enabled and self.issuer is None:
            raise ValueError(
                "MLPLAT_AUTH_ISSUER is not set: give the cluster's OIDC issuer URL (the tokens' 'iss'), "
                "or set MLPLAT_AUTH=off to serve without caller identity (never in a deployed stack)"
            )
        if self.jwks_token_file is not None and self.jwks_url is None:
            # The pod's own API-server token goes only to a key set named here, never to a host
            # that the issuer's discovery document names.
            raise ValueError(
                "MLPLAT_AUTH_JWKS_TOKEN_FILE is set without MLPLAT_AUTH_JWKS_URL: the token is sent only to "
                "a key set named here (the API server's https://kubernetes.default.svc/openid/v1/jwks), "
                "never to one found by discovery; set MLPLAT_AUTH_JWKS_URL or leave the token file out"
            )
        return self


def url_problem(url: str) -> str | None:
    """Why ``url`` may not serve keys: they come over HTTPS, plain HTTP only from this machine (the local issuer)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname is not None and _is_loopback(parts.hostname):
        return None
    return "use an https:// URL (http:// only for a loopback address)"


def check_url(name: str, url: str) -> None:
    """:class:`UsageError` naming ``name`` if ``url`` may not serve keys (:func:`url_problem`)."""
    problem = url_problem(url)
    if problem is not None:
        raise UsageError(f"{name}={url!r}: {problem}")


def cache_max_age(header: str | None, ceiling: float) -> float:
    """How long to keep a key set: the response's ``Cache-Control: max-age``, at most ``ceiling``.

    EKS asks clients of its OIDC endpoint to cache the keys and respect this header
    (https://docs.aws.amazon.com/eks/latest/userguide/irsa-fetch-keys.html). Other
    directives are ignored: refetches stay bounded by ``refetch_interval_s`` whatever the
    header says.
    """
    for directive in (header or "").split(","):
        name, _, value = directive.strip().partition("=")
        if name.lower() == "max-age" and value.isdigit():
            return min(float(value), ceiling)
    return ceiling


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class KeySet:
    """The issuer's signing keys: fetched on first use, cached, refetched on age or an unknown key id.

    A failed refresh keeps the cached keys (an issuer outage does not lock out callers
    whose keys are known); with nothing cached it is :class:`IdentityUnavailableError`.
    """

    def __init__(self, settings: IdentitySettings, clock: Callable[[], float] = time.monotonic) -> None:
        assert settings.issuer is not None
        self._settings = settings
        self._clock = clock
        self._jwks_url = settings.jwks_url
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._max_age_s = settings.keys_max_age_s
        self._lock = asyncio.Lock()
        self.attempts = 0
        self.fetches = 0

    async def key(self, kid: str) -> jwt.PyJWK:
        """The key ``kid``; :class:`AuthenticationError` if the issuer does not publish it."""
        now = self._clock()
        stale = self._fetched_at is None or now - self._fetched_at > self._max_age_s
        # Every fetch, due or not, waits out the interval after the last attempt: an issuer
        # outage costs one timed-out fetch per interval, not one per request.
        if stale and self._may_refetch(now):
            await self._refresh(now)
        found = self._keys.get(kid)
        if found is None and self._may_refetch(now):
            await self._refresh(now)  # the issuer may have rotated to a key we have not seen
            found = self._keys.get(kid)
        if found is not None:
            return found
        if not self._keys:
            raise IdentityUnavailableError("no issuer keys fetched yet")
        raise AuthenticationError("unknown_key", f"token key id {clip(kid, 64)!r} is not one of the issuer's keys")

    def _may_refetch(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self._settings.refetch_interval_s

    async def _refresh(self, now: float) -> None:
        async with self._lock:
            if self._attempted_at is not None and self._attempted_at >= now:
                return  # another request refreshed while this one waited
            self._attempted_at = self._clock()
            self.attempts += 1
            try:
                self._keys, self._max_age_s = await self._fetch()
                self._fetched_at = self._clock()
            except (httpx.HTTPError, OSError, ValueError, jwt.PyJWKSetError) as error:
                log.warning(
                    "issuer keys not fetched (%s: %s); keeping %d cached", type(error).__name__, error, len(self._keys)
                )
                if not self._keys:
                    raise IdentityUnavailableError(str(error)) from None

    async def _fetch(self) -> tuple[dict[str, jwt.PyJWK], float]:
        """The published keys by key id, and how long to keep them."""
        settings = self._settings
        timeout = httpx.Timeout(settings.fetch_timeout_s)
        verify: ssl.SSLContext | bool = True
        if settings.jwks_ca_file is not None:
            verify = ssl.create_default_context(cafile=str(settings.jwks_ca_file))
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, verify=verify) as client:
            if self._jwks_url is None:
                self._jwks_url = await self._discover(client)
            headers = {}
            if settings.jwks_token_file is not None:
                token = settings.jwks_token_file.read_text().strip()
                headers["authorization"] = f"Bearer {token}"
            response = await client.get(self._jwks_url, headers=headers)
            response.raise_for_status()
            self.fetches += 1
            keys = jwt.PyJWKSet.from_dict(response.json()).keys
        max_age = cache_max_age(response.headers.get("cache-control"), settings.keys_max_age_s)
        return {key.key_id: key for key in keys if key.key_id is not None}, max_age

    async def _discover(self, client: httpx.AsyncClient) -> str:
        issuer = self._settings.issuer
        assert issuer is not None
        response = await client.get(issuer.rstrip("/") + "/.well-known/openid-configuration")
        response.raise_for_status()
        document = response.json()
        # OpenID Connect Discovery 1.0 section 4.3: the document's issuer must be the one asked.
        if not isinstance(document, dict) or document.get("issuer") != issuer:
            raise ValueError(f"discovery document of {issuer} names another issuer")
        url = document.get("jwks_uri")
        if not isinstance(url, str):
            raise ValueError(f"discovery document of {issuer} has no jwks_uri")
        try:
            check_url("jwks_uri", url)
        except UsageError as error:
            raise ValueError(str(error)) from None
        return url


_REASONS: tuple[tuple[type[jwt.PyJWTError], str, str], ...] = (
    (
        jwt.ExpiredSignatureError,
        "expired",
        "token has expired; the kubelet renews projected tokens, so re-read the file",
    ),
    (jwt.ImmatureSignatureError, "not_yet_valid", "token is not valid yet (nbf/iat in the future)"),
    (
        jwt.InvalidAudienceError,
        "audience",
        "token audience is not {audience!r}; project the token with audience {audience!r}",
    ),
    (jwt.InvalidIssuerError, "issuer", "token issuer is not this cluster's ({issuer})"),
    (jwt.MissingRequiredClaimError, "claims", "token lacks a required claim ({error})"),
    (jwt.InvalidSignatureError, "signature", "token signature does not verify"),
)


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """The namespace and service account of verified claims (the ``kubernetes.io`` claim)."""
    kube = claims.get("kubernetes.io")
    account = kube.get("serviceaccount") if isinstance(kube, dict) else None
    namespace = kube.get("namespace") if isinstance(kube, dict) else None
    name = account.get("name") if isinstance(account, dict) else None
    if not isinstance(namespace, str) or not isinstance(name, str):
        raise AuthenticationError("claims", "token is not a Kubernetes service account token (no kubernetes.io claim)")
    if claims.get("sub") != f"system:serviceaccount:{namespace}:{name}":
        raise AuthenticationError("claims", "token subject does not match its kubernetes.io service account")
    return Principal(namespace, name)


class TokenVerifier:
    """Verifies bearer tokens against a :class:`KeySet`; verified tokens are cached until they expire."""

    def __init__(self, settings: IdentitySettings, keys: KeySet | None = None) -> None:
        self._settings = settings
        self._keys = keys if keys is not None else KeySet(settings)
        self._verified: dict[str, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        """The principal of ``token``, or :class:`AuthenticationError` saying what is wrong."""
        cached = self._verified.get(token)
        if cached is not None and time.time() < cached[1] + self._settings.leeway_s:
            return cached[0]
        header = self._header(token)
        key = await self._keys.key(header["kid"])
        claims = self._claims(token, key, header["alg"])
        principal = principal_from_claims(claims)
        if len(self._verified) >= _CACHE_LIMIT:
            self._verified.clear()
        self._verified[token] = (principal, float(claims["exp"]))
        return principal

    @staticmethod
    def _header(token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthenticationError("malformed", "bearer token is not a JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise AuthenticationError(
                "algorithm", f"token algorithm {header.get('alg')!r} is not accepted; use {', '.join(ALGORITHMS)}"
            )
        if not isinstance(header.get("kid"), str):
            raise AuthenticationError("malformed", "token header has no key id (kid)")
        return header

    def _claims(self, token: str, key: jwt.PyJWK, algorithm: str) -> dict[str, Any]:
        s = self._settings
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway_s,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as error:
            raise _authentication_error(error, s) from None
        if float(claims["exp"]) - float(claims["iat"]) > s.max_lifetime_s:
            raise AuthenticationError(
                "lifetime",
                f"token lifetime exceeds {s.max_lifetime_s:.0f} s; project it with a shorter expirationSeconds",
            )
        return claims


def _authentication_error(error: jwt.PyJWTError, settings: IdentitySettings) -> AuthenticationError:
    for kind, reason, message in _REASONS:
        if isinstance(error, kind):
            return AuthenticationError(
                reason, message.format(audience=settings.audience, issuer=settings.issuer, error=error)
            )
    return AuthenticationError("malformed", "bearer token is not a valid JWT")


# --- the services' hooks ----------------------------------------------------------------


class Authorizer:
    """Verified principal -> caller; caller + action + resources -> allowed or a 403 naming the grant."""

    def __init__(self, policy: AccessPolicy | None, verifier: TokenVerifier | None) -> None:
        assert verifier is None or policy is not None, "verified callers need a policy to be named by"
        self.policy = policy
        self.verifier = verifier

    @property
    def enabled(self) -> bool:
        return self.verifier is not None

    async def authenticate(self, authorization: str | None) -> CallerIdentity:
        """The caller of a request with this ``Authorization`` header value."""
        if self.verifier is None or self.policy is None:
            return ANONYMOUS
        if authorization is None:
            raise AuthenticationError("missing", "send 'Authorization: Bearer <token>' with a service account token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("malformed", "the Authorization header must be 'Bearer <token>'")
        return self.policy.identify(await self.verifier.verify(token.strip()))

    def require_some(self, caller: CallerIdentity, action: Action) -> None:
        """Nothing if ``caller`` holds ``action``'s grant on something, else :class:`ForbiddenError`.

        Checked before a request's body is read when the body names the resources: a
        caller granted nothing of the kind costs no read, no parse, and no place among
        the requests in flight, and learns nothing of the catalog from the errors.
        """
        if self.verifier is None or self.policy is None:
            return
        if not self.policy.grants_any(caller, action):
            raise ForbiddenError(self.policy.denial_of_all(caller, action))

    def require(self, caller: CallerIdentity, action: Action, resources: Iterable[str]) -> None:
        """Nothing if ``caller`` may ``action`` every resource, else :class:`ForbiddenError` naming the missing grants."""
        if self.verifier is None or self.policy is None:
            return
        missing = self.policy.missing(caller, action, resources)
        if missing:
            raise ForbiddenError(self.policy.denial(caller, action, missing))


#: No authentication: every request is ``anonymous`` and allowed (tests, embedding).
OPEN = Authorizer(None, None)


def authorizer_for(catalog: Catalog, settings: IdentitySettings | None = None) -> Authorizer:
    """The authorizer of ``catalog``'s grants as ``settings`` ask (``MLPLAT_AUTH*`` when left out).

    Turning identity off is logged loudly.
    """
    if settings is None:
        settings = IdentitySettings.from_environment()
    policy = AccessPolicy(catalog)
    if not settings.enabled:
        log.warning(
            "CALLER AUTHENTICATION IS OFF (MLPLAT_AUTH=off): every request is served as 'anonymous' "
            "and no grant is checked. Never run a deployed stack like this."
        )
        return Authorizer(policy, None)
    return Authorizer(policy, TokenVerifier(settings))


def caller_of(scope: Mapping[str, Any]) -> CallerIdentity:
    """The caller :func:`protect` verified for this request (``anonymous`` when off)."""
    caller = scope.get(SCOPE_KEY, ANONYMOUS)
    assert isinstance(caller, CallerIdentity)
    return caller


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
#: Renders a 401/503 body in the service's own error shape: (status, message) -> JSON bytes.
ErrorRenderer = Callable[[int, str], bytes]


class AuthFailures:
    """``mlplat_auth_failures``: refused tokens by reason (a short, fixed set of labels)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._counter = Counter(
            "mlplat_auth_failures", "Requests refused before authorization, by reason.", ["reason"], registry=registry
        )

    def count(self, reason: str) -> None:
        self._counter.labels(reason).inc()


class CallerAuthentication:
    """ASGI middleware: a 401 before the app for any path but ``public_paths``; the caller in the scope.

    Used as ``Middleware(CallerAuthentication, authorizer=..., public_paths=..., render=..., failures=...)``.
    """

    def __init__(
        self,
        app: ASGIApp,
        authorizer: Authorizer,
        public_paths: Iterable[str],
        render: ErrorRenderer,
        failures: AuthFailures,
    ) -> None:
        self._app = app
        self._authorizer = authorizer
        self._public = frozenset(public_paths)
        self._render = render
        self._failures = failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._public:
            await self._app(scope, receive, send)
            return
        try:
            scope[SCOPE_KEY] = await self._authorizer.authenticate(_authorization(scope))
        except (AuthenticationError, IdentityUnavailableError) as error:
            reason = error.reason if isinstance(error, AuthenticationError) else "keys_unavailable"
            self._failures.count(reason)
            await _refuse(send, error, self._render)
            return
        await self._app(scope, receive, send)


def _authorization(scope: Mapping[str, Any]) -> str | None:
    """The one ``Authorization`` header of a request; two are refused.

    RFC 9110 section 5.3 lets a field repeat only when its value is a list, which
    credentials are not (https://www.rfc-editor.org/rfc/rfc9110#section-5.3): a proxy
    or a log that reads another one than the service would see another caller.
    """
    found = [value for key, value in scope["headers"] if key == b"authorization"]
    if len(found) > 1:
        raise AuthenticationError("malformed", f"send one Authorization header; this request has {len(found)}")
    return bytes(found[0]).decode("latin-1") if found else None


async def _refuse(send: Send, error: MlplatError, render: ErrorRenderer) -> None:
    status = error.http_status
    body = render(status, error.public_message)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if isinstance(error, AuthenticationError):
        # RFC 6750 section 3: the challenge, with an error code only when a token was sent.
        challenge = (
            'Bearer realm="mlplat"' if error.reason == "missing" else 'Bearer realm="mlplat", error="invalid_token"'
        )
        headers.append((b"www-authenticate", challenge.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
