"""A local OIDC issuer of Kubernetes-style service account tokens, for ``mlplat up``.

On a cluster the kubelet projects each caller's service account token, signed by the
cluster's issuer; the services verify it against the issuer's published keys. Locally
this module plays the issuer so the services run the very same verification:

* an RSA signing key made once under the state directory (``identity/issuer-key.pem``,
  mode 0600, never printed);
* the discovery document and the key set (JWKS) served over loopback HTTP;
* one token per ``Caller`` of the specs, with the claims the kubelet's tokens carry
  (``iss``, ``aud``, ``sub``, ``exp``, ``nbf``, ``iat``, ``kubernetes.io``), written to
  ``identity/tokens/<caller>.token`` (mode 0600) for the example callers to send.

:meth:`LocalIssuer.rotate` makes a new key and publishes it beside the old one, as a
cluster's issuer does when it rotates keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from mlplat.spec.kinds import Caller

#: Audience of the tokens the platform's services accept.
AUDIENCE = "mlplat"
#: Lifetime of the local tokens: one working day; ``mlplat up`` issues fresh ones each run.
TOKEN_LIFETIME_S = 12 * 3600
KEY_FILE = "issuer-key.pem"


@dataclass(frozen=True)
class SigningKey:
    """An RSA key and its key id (the RFC 7638 thumbprint of its public part)."""

    private: rsa.RSAPrivateKey
    kid: str

    @classmethod
    def generate(cls) -> SigningKey:
        return cls.of(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def of(cls, private: rsa.RSAPrivateKey) -> SigningKey:
        public = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
        # RFC 7638: the thumbprint is over the required members in lexicographic order.
        canonical = json.dumps({k: public[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
        kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
        return cls(private, kid)

    def jwk(self) -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "alg": "RS256", "use": "sig"}


def load_or_make_key(directory: Path) -> SigningKey:
    """The issuer key kept in ``directory`` (made, mode 0600, on first use)."""
    _private_directory(directory)
    path = directory / KEY_FILE
    if path.is_file():
        path.chmod(0o600)  # a key copied in, or made by an older version, with a looser mode
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(private, rsa.RSAPrivateKey):
            return SigningKey.of(private)
    key = SigningKey.generate()
    pem = key.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_private(path, pem)
    return key


def _private_directory(directory: Path) -> None:
    """``directory``, made if missing, readable by its owner only (an existing one keeps no looser mode)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by its owner only: ``os.open``'s mode applies to a new file only,
    so a file already there (a token of an earlier run, made under another umask) is tightened too."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


class LocalIssuer:
    """Serves discovery and keys on ``127.0.0.1`` and signs service account tokens."""

    def __init__(
        self,
        key: SigningKey,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls: ssl.SSLContext | None = None,
        keys_bearer: str | None = None,
        keys_cache_control: str | None = None,
    ) -> None:
        """``tls`` serves HTTPS; ``keys_bearer`` makes the key set answer only that bearer token,
        as the Kubernetes API server's ``/openid/v1/jwks`` answers only service accounts;
        ``keys_cache_control`` is the key set's ``Cache-Control`` header."""
        self._keys = [key]
        self._keys_cache_control = keys_cache_control
        self._lock = threading.Lock()
        self.key_fetches = 0
        self._keys_bearer = keys_bearer
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._scheme = "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The issuer URL, the tokens' ``iss``."""
        host, port = self._server.server_address[:2]
        return f"{self._scheme}://{host!s}:{port}"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/openid/v1/jwks"

    @property
    def key(self) -> SigningKey:
        """The key new tokens are signed with."""
        return self._keys[-1]

    def start(self) -> LocalIssuer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-issuer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def rotate(self) -> SigningKey:
        """A new signing key, published beside the old ones."""
        key = SigningKey.generate()
        with self._lock:
            self._keys.append(key)
        return key

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [key.jwk() for key in self._keys]}

    def token(
        self,
        namespace: str,
        service_account: str,
        *,
        audience: str = AUDIENCE,
        lifetime_s: int = TOKEN_LIFETIME_S,
        now: float | None = None,
        key: SigningKey | None = None,
    ) -> str:
        """A token with the claims of a projected service account token."""
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": self.url,
            "aud": [audience],
            "sub": f"system:serviceaccount:{namespace}:{service_account}",
            "iat": issued,
            "nbf": issued,
            "exp": issued + lifetime_s,
            "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": service_account, "uid": "local"}},
        }
        signer = key or self.key
        return jwt.encode(claims, signer.private, algorithm="RS256", headers={"kid": signer.kid})

    def write_tokens(self, callers: Iterable[Caller], directory: Path) -> Mapping[str, Path]:
        """One token file (mode 0600) per caller: ``<directory>/<caller>.token``."""
        _private_directory(directory)
        paths = {}
        for caller in callers:
            account = caller.spec.service_account
            path = directory / f"{caller.metadata.name}.token"
            _write_private(path, self.token(account.namespace, account.name).encode())
            paths[caller.metadata.name] = path
        return paths

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers: dict[str, str] = {}
                if self.path == "/.well-known/openid-configuration":
                    body: dict[str, Any] = {
                        "issuer": issuer.url,
                        "jwks_uri": issuer.jwks_url,
                        "response_types_supported": ["id_token"],
                        "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                    }
                elif self.path == "/openid/v1/jwks":
                    bearer = issuer._keys_bearer
                    if bearer is not None and self.headers.get("authorization") != f"Bearer {bearer}":
                        self.send_error(401)
                        return
                    issuer.key_fetches += 1
                    body = issuer.jwks()
                    headers = {"cache-control": issuer._keys_cache_control} if issuer._keys_cache_control else {}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return  # requests are not logged: the platform's own logs say enough

        return Handler
