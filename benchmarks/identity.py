"""What verifying a caller's token costs a request, beside PyJWT's bare decode of the same token.

Three figures per token, all in the same run against a local issuer serving its keys on
loopback:

* baseline: ``jwt.decode`` with the key in hand (signature and registered claims only);
* first sight: :meth:`TokenVerifier.verify` of a token it has not seen (header checks,
  key look-up, full verification, the ``kubernetes.io`` claims);
* steady state: the same token again, as every later request of a caller sends it
  (the verified-token cache).

    PYTHONPATH=$PWD python benchmarks/identity.py [--tokens 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import time

import jwt

from mlplat.local_identity import LocalIssuer, SigningKey
from services.identity import IdentitySettings, TokenVerifier


def _per_call_us(seconds: float, count: int) -> float:
    return seconds / count * 1e6


async def _measure(issuer: LocalIssuer, count: int) -> dict[str, float]:
    verifier = TokenVerifier(IdentitySettings(enabled=True, issuer=issuer.url))
    tokens = [issuer.token("checkout", f"caller-{i}") for i in range(count)]
    await verifier.verify(issuer.token("checkout", "warm-up"))  # fetches the keys once
    public = issuer.key.private.public_key()

    started = time.perf_counter()
    for token in tokens:
        jwt.decode(token, public, algorithms=["RS256"], audience="mlplat", issuer=issuer.url)
    baseline = time.perf_counter() - started

    started = time.perf_counter()
    for token in tokens:
        await verifier.verify(token)
    first = time.perf_counter() - started

    started = time.perf_counter()
    for token in tokens:
        await verifier.verify(token)
    cached = time.perf_counter() - started
    return {
        "baseline": _per_call_us(baseline, count),
        "first": _per_call_us(first, count),
        "cached": _per_call_us(cached, count),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2000)
    args = parser.parse_args()
    issuer = LocalIssuer(SigningKey.generate()).start()
    try:
        figures = asyncio.run(_measure(issuer, args.tokens))
    finally:
        issuer.stop()
    print(f"python {platform.python_version()}, PyJWT {jwt.__version__}, RS256 2048-bit, {args.tokens} tokens")
    print(f"jwt.decode (baseline)          {figures['baseline']:8.1f} us/token")
    print(
        f"verify, first sight            {figures['first']:8.1f} us/token  "
        f"({figures['first'] / figures['baseline']:.2f}x baseline)"
    )
    print(
        f"verify, cached (every request) {figures['cached']:8.1f} us/token  "
        f"({figures['cached'] / figures['baseline']:.3f}x baseline)"
    )


if __name__ == "__main__":
    main()
