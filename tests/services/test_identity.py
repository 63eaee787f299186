"""Token verification against a real issuer: keys served over loopback HTTP, real RS256 tokens."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import os
import ssl
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mlplat.access import Principal
from mlplat.errors import UsageError
from mlplat.loader import load_catalog
from mlplat.local_identity import LocalIssuer, SigningKey
from services.identity import (
    AuthenticationError,
    IdentitySettings,
    IdentityUnavailableError,
    KeySet,
    TokenVerifier,
    authorizer_for,
    cache_max_age,
)
from tests.servers import free_port

CHECKOUT = ("checkout", "checkout-api")


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    issuer = LocalIssuer(SigningKey.generate()).start()
    yield issuer
    issuer.stop()


def settings_of(issuer: LocalIssuer, **overrides: object) -> IdentitySettings:
    return IdentitySettings(enabled=True, issuer=issuer.url, **overrides)  # type: ignore[arg-type]


def verify(verifier: TokenVerifier, token: str) -> Principal:
    return asyncio.run(verifier.verify(token))


def refused(verifier: TokenVerifier, token: str) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as caught:
        verify(verifier, token)
    return caught.value


def test_a_projected_token_gives_its_namespace_and_service_account(issuer: LocalIssuer) -> None:
    verifier = TokenVerifier(settings_of(issuer))
    assert verify(verifier, issuer.token(*CHECKOUT)) == Principal("checkout", "checkout-api")


def test_the_key_set_is_found_by_discovery_fetched_once_and_cached(issuer: LocalIssuer) -> None:
    verifier = TokenVerifier(settings_of(issuer))
    for account in ("a", "b", "c"):
        verify(verifier, issuer.token("checkout", account))
    assert issuer.key_fetches == 1


@pytest.mark.parametrize(
    ("make", "reason", "says"),
    [
        (lambda i: i.token(*CHECKOUT, now=time.time() - 7200, lifetime_s=3600), "expired", "expired"),
        (lambda i: i.token(*CHECKOUT, audience="sts.amazonaws.com"), "audience", "audience 'mlplat'"),
        (lambda i: i.token(*CHECKOUT, now=time.time() + 600), "not_yet_valid", "not valid yet"),
        (lambda i: i.token(*CHECKOUT, lifetime_s=30 * 86400), "lifetime", "lifetime"),
        (lambda i: "not-a-jwt", "malformed", "not a JWT"),
    ],
    ids=["expired", "wrong-audience", "not-yet-valid", "too-long-lived", "garbage"],
)
def test_a_bad_token_is_refused_saying_why(issuer: LocalIssuer, make: object, reason: str, says: str) -> None:
    error = refused(TokenVerifier(settings_of(issuer)), make(issuer))  # type: ignore[operator]
    assert error.reason == reason
    assert says in str(error)


def test_a_token_of_another_issuer_is_refused(issuer: LocalIssuer) -> None:
    other = LocalIssuer(issuer.key).start()  # same key, other URL: only iss differs
    try:
        error = refused(TokenVerifier(settings_of(issuer)), other.token(*CHECKOUT))
    finally:
        other.stop()
    assert error.reason == "issuer"


def test_a_rotated_key_is_fetched_when_a_token_names_it(issuer: LocalIssuer) -> None:
    verifier = TokenVerifier(settings_of(issuer, refetch_interval_s=0.0))
    verify(verifier, issuer.token(*CHECKOUT))
    new = issuer.rotate()
    assert verify(verifier, issuer.token("checkout", "rotated", key=new)) == Principal("checkout", "rotated")
    assert issuer.key_fetches == 2


def test_unknown_key_ids_refetch_at_most_once_per_interval(issuer: LocalIssuer) -> None:
    verifier = TokenVerifier(settings_of(issuer, refetch_interval_s=60.0))
    verify(verifier, issuer.token(*CHECKOUT))
    stranger = SigningKey.generate()  # never published
    for _ in range(5):
        assert refused(verifier, issuer.token(*CHECKOUT, key=stranger)).reason == "unknown_key"
    assert issuer.key_fetches == 1  # the first fetch was within the interval: forged kids cause none


def _unsigned(claims: dict[str, object], header: dict[str, object]) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


def test_alg_none_is_refused(issuer: LocalIssuer) -> None:
    claims = jwt.decode(issuer.token(*CHECKOUT), options={"verify_signature": False})
    token = _unsigned(claims, {"alg": "none", "typ": "JWT", "kid": issuer.key.kid})
    assert refused(TokenVerifier(settings_of(issuer)), token).reason == "algorithm"


def test_a_token_signed_with_the_public_key_as_an_hmac_secret_is_refused(issuer: LocalIssuer) -> None:
    claims = jwt.decode(issuer.token(*CHECKOUT), options={"verify_signature": False})
    header = {"alg": "HS256", "typ": "JWT", "kid": issuer.key.kid}
    token = _unsigned(claims, header)[:-1] + ".c2lnbmF0dXJl"
    assert refused(TokenVerifier(settings_of(issuer)), token).reason == "algorithm"


def test_a_forged_signature_is_refused(issuer: LocalIssuer) -> None:
    impostor = SigningKey(SigningKey.generate().private, issuer.key.kid)  # the right kid, another key
    error = refused(TokenVerifier(settings_of(issuer)), issuer.token(*CHECKOUT, key=impostor))
    assert error.reason == "signature"


def test_a_token_without_kubernetes_claims_is_refused(issuer: LocalIssuer) -> None:
    now = int(time.time())
    claims = {"iss": issuer.url, "aud": "mlplat", "sub": "someone", "iat": now, "exp": now + 600}
    token = jwt.encode(claims, issuer.key.private, algorithm="RS256", headers={"kid": issuer.key.kid})
    assert refused(TokenVerifier(settings_of(issuer)), token).reason == "claims"


def test_cached_keys_outlive_an_issuer_outage(issuer: LocalIssuer) -> None:
    settings = settings_of(issuer, keys_max_age_s=0.0, refetch_interval_s=0.0, fetch_timeout_s=0.5)
    keys = KeySet(settings)
    verifier = TokenVerifier(settings, keys)
    verify(verifier, issuer.token(*CHECKOUT))
    issuer.stop()
    # Keys are past their age, the refresh fails: the cached key still verifies.
    assert verify(verifier, issuer.token("checkout", "other")) == Principal("checkout", "other")
    assert keys.fetches == 1


def test_an_issuer_outage_costs_one_fetch_attempt_per_interval(issuer: LocalIssuer) -> None:
    clock = [0.0]
    settings = settings_of(issuer, keys_max_age_s=60.0, refetch_interval_s=10.0, fetch_timeout_s=0.5)
    keys = KeySet(settings, clock=lambda: clock[0])
    verifier = TokenVerifier(settings, keys)
    verify(verifier, issuer.token(*CHECKOUT))
    issuer.stop()
    clock[0] = 120.0  # the keys are stale and the issuer is down
    for account in ("a", "b", "c", "d"):
        verify(verifier, issuer.token("checkout", account))
    assert (keys.attempts, keys.fetches) == (2, 1)  # one failed attempt, not one per request
    clock[0] = 131.0
    verify(verifier, issuer.token("checkout", "e"))
    assert keys.attempts == 3


def test_no_reachable_issuer_and_no_cached_keys_is_unavailable_fast() -> None:
    settings = IdentitySettings(issuer=f"http://127.0.0.1:{free_port()}", fetch_timeout_s=0.5)
    keys = KeySet(settings)
    started = time.monotonic()
    with pytest.raises(IdentityUnavailableError) as caught:
        asyncio.run(keys.key("any"))
    assert caught.value.http_status == 503
    assert time.monotonic() - started < 2


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, str]], IdentitySettings]:
    """Settings read from exactly ``env``'s ``MLPLAT_AUTH*`` variables, as a service reads them at start."""

    def read(env: dict[str, str]) -> IdentitySettings:
        for name in [name for name in os.environ if name.startswith("MLPLAT_AUTH")]:
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return IdentitySettings.from_environment()

    return read


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({}, "MLPLAT_AUTH_ISSUER is not set: give the cluster's OIDC issuer URL"),
        ({"MLPLAT_AUTH": "maybe"}, "MLPLAT_AUTH='maybe': use 'on' (verify caller tokens) or 'off'"),
        (
            {"MLPLAT_AUTH_ISSUER": "http://issuer.example"},
            "MLPLAT_AUTH_ISSUER='http://issuer.example': use an https://",
        ),
        (
            {"MLPLAT_AUTH_ISSUER": "https://i.example", "MLPLAT_AUTH_LEEWAY_SECONDS": "lots"},
            "MLPLAT_AUTH_LEEWAY_SECONDS='lots': Input should be a valid number",
        ),
        (
            {"MLPLAT_AUTH_ISSUER": "https://i.example", "MLPLAT_AUTH_LEEWAY_SECONDS": "3600"},
            "MLPLAT_AUTH_LEEWAY_SECONDS='3600': Input should be less than or equal to 300",
        ),
        (
            {"MLPLAT_AUTH_ISSUER": "https://i.example", "MLPLAT_AUTH_FETCH_TIMEOUT_SECONDS": "0"},
            "MLPLAT_AUTH_FETCH_TIMEOUT_SECONDS='0': Input should be greater than 0",
        ),
        (
            {"MLPLAT_AUTH_ISSUER": "https://i.example", "MLPLAT_AUTH_JWKS_TOKEN_FILE": __file__},
            "MLPLAT_AUTH_JWKS_TOKEN_FILE is set without MLPLAT_AUTH_JWKS_URL: the token is sent only to a key set "
            "named here",
        ),
    ],
)
def test_identity_settings_name_the_variable_the_value_and_the_fix(
    environment: Callable[[dict[str, str]], IdentitySettings], env: dict[str, str], says: str
) -> None:
    with pytest.raises(UsageError) as caught:
        environment(env)
    assert str(caught.value).startswith("invalid IdentitySettings settings:\n  - ")
    assert says in str(caught.value)


def test_every_bad_identity_variable_is_named_at_once(
    environment: Callable[[dict[str, str]], IdentitySettings],
) -> None:
    env = {"MLPLAT_AUTH": "yes", "MLPLAT_AUTH_LEEWAY_SECONDS": "-1", "MLPLAT_AUTH_MAX_LIFETIME_SECONDS": "x"}
    with pytest.raises(UsageError) as caught:
        environment(env)
    named = [line.split("=")[0].strip(" -") for line in str(caught.value).splitlines()[1:]]
    assert named == ["MLPLAT_AUTH", "MLPLAT_AUTH_LEEWAY_SECONDS", "MLPLAT_AUTH_MAX_LIFETIME_SECONDS"]


def test_identity_settings_from_the_environment(environment: Callable[[dict[str, str]], IdentitySettings]) -> None:
    eks = "https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
    settings = environment({"MLPLAT_AUTH_ISSUER": eks})
    assert (settings.enabled, settings.issuer, settings.audience, settings.leeway_s) == (True, eks, "mlplat", 30.0)
    assert settings == IdentitySettings(issuer=eks)  # the defaults are the documented ones either way
    assert environment({"MLPLAT_AUTH": "OFF"}).enabled is False
    tuned = environment(
        {
            "MLPLAT_AUTH_ISSUER": eks,
            "MLPLAT_AUTH_AUDIENCE": "risk",
            "MLPLAT_AUTH_LEEWAY_SECONDS": "5",
            "MLPLAT_AUTH_FETCH_TIMEOUT_SECONDS": "0.5",
            "MLPLAT_AUTH_KEYS_MAX_AGE_SECONDS": "600",
            "MLPLAT_AUTH_REFETCH_INTERVAL_SECONDS": "1",
            "MLPLAT_AUTH_MAX_LIFETIME_SECONDS": "7200",
        }
    )
    assert (tuned.audience, tuned.leeway_s, tuned.fetch_timeout_s) == ("risk", 5.0, 0.5)
    assert (tuned.keys_max_age_s, tuned.refetch_interval_s, tuned.max_lifetime_s) == (600.0, 1.0, 7200.0)


def test_only_the_mlplat_auth_variables_are_read(
    environment: Callable[[dict[str, str]], IdentitySettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Field names are keywords, never variables: a stray ISSUER or AUDIENCE in a pod's environment changes nothing.
    monkeypatch.setenv("ISSUER", "https://attacker.example")
    monkeypatch.setenv("AUDIENCE", "anything")
    with pytest.raises(UsageError, match="MLPLAT_AUTH_ISSUER is not set"):
        environment({})
    assert environment({"MLPLAT_AUTH_ISSUER": "https://i.example"}).audience == "mlplat"


def test_turning_identity_off_is_logged_loudly(specs_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    authorizer = authorizer_for(load_catalog(specs_dir), IdentitySettings(enabled=False))
    assert not authorizer.enabled
    assert any(r.levelname == "WARNING" and "AUTHENTICATION IS OFF" in r.message for r in caplog.records)


def test_without_identity_settings_a_service_refuses_to_start(specs_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLPLAT_AUTH", raising=False)
    monkeypatch.delenv("MLPLAT_AUTH_ISSUER", raising=False)
    with pytest.raises(UsageError, match="MLPLAT_AUTH_ISSUER is not set"):
        authorizer_for(load_catalog(specs_dir))


def _loopback_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (certificate, key) PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "ca.crt", directory / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_keys_from_an_api_server_style_endpoint_with_the_pods_token_and_the_cluster_ca(
    tmp_path: Path, environment: Callable[[dict[str, str]], IdentitySettings]
) -> None:
    cert, key = _loopback_certificate(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    token_file = tmp_path / "token"
    token_file.write_text("pod-service-account-token\n")
    issuer = LocalIssuer(SigningKey.generate(), tls=tls, keys_bearer="pod-service-account-token").start()
    try:
        env = {
            "MLPLAT_AUTH_ISSUER": issuer.url,
            "MLPLAT_AUTH_JWKS_URL": issuer.jwks_url,
            "MLPLAT_AUTH_JWKS_TOKEN_FILE": str(token_file),
            "MLPLAT_AUTH_JWKS_CA_FILE": str(cert),
        }
        verifier = TokenVerifier(environment(env))
        assert verify(verifier, issuer.token(*CHECKOUT)) == Principal(*CHECKOUT)
        # Without the pod's token the key set is refused, and with no key cached that is a 503.
        unauthenticated = TokenVerifier(environment({**env, "MLPLAT_AUTH_JWKS_TOKEN_FILE": ""}))
        with pytest.raises(IdentityUnavailableError):
            verify(unauthenticated, issuer.token(*CHECKOUT))
        # Nor is a server the cluster CA did not sign trusted.
        untrusted = TokenVerifier(environment({**env, "MLPLAT_AUTH_JWKS_CA_FILE": ""}))
        with pytest.raises(IdentityUnavailableError):
            verify(untrusted, issuer.token(*CHECKOUT))
    finally:
        issuer.stop()
    assert issuer.key_fetches == 1


def test_a_token_or_ca_file_that_is_not_there_is_a_usage_error(
    tmp_path: Path, environment: Callable[[dict[str, str]], IdentitySettings]
) -> None:
    env = {"MLPLAT_AUTH_ISSUER": "https://i.example", "MLPLAT_AUTH_JWKS_CA_FILE": str(tmp_path / "missing.crt")}
    with pytest.raises(UsageError, match=r"MLPLAT_AUTH_JWKS_CA_FILE=.*: is not a file"):
        environment(env)


def test_an_algorithm_other_than_rs256_is_refused_before_any_key_is_fetched(issuer: LocalIssuer) -> None:
    claims = jwt.decode(issuer.token(*CHECKOUT), options={"verify_signature": False})
    token = jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "k"})
    assert refused(TokenVerifier(settings_of(issuer)), token).reason == "algorithm"
    assert issuer.key_fetches == 0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, 3600.0),
        ("public, max-age=300", 300.0),
        ("max-age=86400", 3600.0),  # never longer than the ceiling
        ("no-store", 3600.0),
        ("max-age=soon", 3600.0),
    ],
)
def test_the_key_sets_cache_lifetime_follows_its_cache_control(header: str | None, expected: float) -> None:
    assert cache_max_age(header, 3600.0) == expected


def test_keys_are_refetched_when_their_cache_control_says_they_are_stale() -> None:
    issuer = LocalIssuer(SigningKey.generate(), keys_cache_control="max-age=0").start()
    try:
        verifier = TokenVerifier(settings_of(issuer, refetch_interval_s=0.0))
        verify(verifier, issuer.token("checkout", "a"))
        verify(verifier, issuer.token("checkout", "b"))
    finally:
        issuer.stop()
    assert issuer.key_fetches == 2


def _documented_defaults() -> dict[str, str]:
    """``docs/security.md``'s table of variables: variable -> its default column."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    rows = [line.split("|") for line in text.splitlines() if line.startswith("| `MLPLAT_AUTH")]
    return {cells[1].strip().strip("`"): cells[2].strip() for cells in rows}


def test_the_security_doc_lists_every_identity_variable_with_its_default() -> None:
    documented = _documented_defaults()
    variables = {IdentitySettings.variable(name): field for name, field in IdentitySettings.model_fields.items()}
    assert set(documented) == set(variables)
    for variable, field in variables.items():
        default = field.default
        if isinstance(default, bool):
            assert documented[variable] == f"`{'on' if default else 'off'}`", variable
        elif isinstance(default, str):
            assert documented[variable] == f"`{default}`", variable
        elif isinstance(default, int | float):
            assert documented[variable] == f"`{default:g}`", variable
        else:
            assert default is None, variable
            assert "`" not in documented[variable], variable  # "none", "discovered": words, not a value
