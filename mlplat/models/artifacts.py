"""Fetching model artifacts and checking them against the spec's sha256.

Bytes are verified before any parser sees them: a file that does not match the digest
pinned in the ``Model`` spec is never loaded, whatever its format.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mlplat.errors import MlplatError
from mlplat.spec.kinds import Artifact


class ArtifactError(MlplatError):
    """An artifact could not be fetched, did not match its sha256, or is in an unknown format."""

    http_status = 503
    public_message = "model not ready"


@dataclass(frozen=True)
class ArtifactStore:
    """Where relative artifact URIs resolve, and how ``s3://`` URIs are reached.

    Attributes:
        root: Where relative URIs (``default_risk/v1/model.ubj``) resolve: a directory, or
            ``s3://bucket[/prefix]`` (the environment's artifact bucket).
        s3_endpoint_url: S3 endpoint; left out, boto3's default for the region (set it for
            VPC endpoints, S3-compatible stores or moto).
        s3_region: AWS region of the bucket; left out, boto3's default chain decides.
    """

    root: Path | str
    s3_endpoint_url: str | None = None
    s3_region: str | None = None

    def read(self, uri: str) -> bytes:
        """The bytes at ``uri``: an ``s3://bucket/key`` object or a file under :attr:`root`."""
        if uri.startswith("s3://"):
            return self._read_s3(uri)
        root = str(self.root)
        if root.startswith("s3://"):
            return self._read_s3(f"{root.rstrip('/')}/{uri}")
        path = Path(root) / PurePosixPath(uri)
        try:
            return path.read_bytes()
        except OSError as error:
            raise ArtifactError(f"cannot read artifact {uri!r} at {path}: {error.strerror or error}") from None

    def _read_s3(self, uri: str) -> bytes:
        import boto3  # noqa: PLC0415 - only s3:// artifacts need boto3
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        bucket, _, key = uri.removeprefix("s3://").partition("/")
        client: Any = boto3.client("s3", endpoint_url=self.s3_endpoint_url, region_name=self.s3_region)
        try:
            body = client.get_object(Bucket=bucket, Key=key)["Body"]
            return bytes(body.read())
        except (BotoCoreError, ClientError) as error:
            raise ArtifactError(f"cannot download artifact {uri}: {error}") from None


def sha256_hex(data: bytes) -> str:
    """The lowercase hex sha256 of ``data``, as ``sha256sum`` prints it."""
    return hashlib.sha256(data).hexdigest()


def fetch_verified(store: ArtifactStore, artifact: Artifact) -> bytes:
    """The artifact's bytes, only if their sha256 equals the one pinned in the spec."""
    data = store.read(artifact.uri)
    actual = sha256_hex(data)
    if actual != artifact.sha256:
        raise ArtifactError(
            f"artifact {artifact.uri} has sha256 {actual}, but the spec pins {artifact.sha256}; "
            "refusing to load it (publish the right file, or update the spec's artifact.sha256)"
        )
    return data
