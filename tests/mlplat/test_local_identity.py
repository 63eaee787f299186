"""The local issuer of `mlplat up`: its key kept private and reused, tokens per caller, keys served."""

from __future__ import annotations

from pathlib import Path

import httpx
import jwt

from mlplat.loader import load_catalog
from mlplat.local_identity import KEY_FILE, LocalIssuer, load_or_make_key


def test_the_key_is_made_once_private_and_reused(tmp_path: Path) -> None:
    first = load_or_make_key(tmp_path / "identity")
    assert (tmp_path / "identity" / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert load_or_make_key(tmp_path / "identity").kid == first.kid


def test_each_caller_gets_a_private_token_for_its_service_account(tmp_path: Path, specs_dir: Path) -> None:
    issuer = LocalIssuer(load_or_make_key(tmp_path)).start()
    try:
        catalog = load_catalog(specs_dir)
        paths = issuer.write_tokens(catalog.callers.values(), tmp_path / "tokens")
        assert set(paths) == set(catalog.callers)
        path = paths["checkout_api"]
        assert path.stat().st_mode & 0o777 == 0o600
        discovery = httpx.get(f"{issuer.url}/.well-known/openid-configuration").json()
        assert discovery["issuer"] == issuer.url
        keys = jwt.PyJWKSet.from_dict(httpx.get(discovery["jwks_uri"]).json())
        token = path.read_text()
        [key] = [k for k in keys.keys if k.key_id == jwt.get_unverified_header(token)["kid"]]
        claims = jwt.decode(token, key.key, algorithms=["RS256"], audience="mlplat", issuer=issuer.url)
        assert claims["sub"] == "system:serviceaccount:checkout:checkout-api"
        assert claims["kubernetes.io"]["serviceaccount"]["name"] == "checkout-api"
        published = httpx.get(issuer.jwks_url).json()["keys"]
        assert all(set(k) == {"kty", "n", "e", "kid", "alg", "use", "key_ops"} for k in published)  # no private part
    finally:
        issuer.stop()


def test_a_token_key_or_directory_left_readable_by_others_is_made_private(tmp_path: Path, specs_dir: Path) -> None:
    identity, tokens = tmp_path / "identity", tmp_path / "identity" / "tokens"
    tokens.mkdir(parents=True, mode=0o755)
    identity.chmod(0o755)
    load_or_make_key(identity)
    (identity / KEY_FILE).chmod(0o644)
    stale = tokens / "checkout_api.token"
    stale.write_text("a token of an earlier run")
    stale.chmod(0o644)
    issuer = LocalIssuer(load_or_make_key(identity)).start()
    try:
        issuer.write_tokens(load_catalog(specs_dir).callers.values(), tokens)
    finally:
        issuer.stop()
    modes = {path.name: path.stat().st_mode & 0o777 for path in (identity, tokens, identity / KEY_FILE, stale)}
    assert modes == {"identity": 0o700, "tokens": 0o700, KEY_FILE: 0o600, "checkout_api.token": 0o600}
