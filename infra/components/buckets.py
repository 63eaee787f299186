"""S3 buckets: private, versioned, SSE-KMS, TLS-only, owner-enforced; grants by prefix."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import iam_policies
from infra.components.component import Component
from infra.components.keys import EncryptionKey


@dataclass(frozen=True)
class BucketArgs:
    """One bucket for one purpose."""

    bucket_name: pulumi.Input[str]
    """Physical name (see :func:`infra.naming.bucket_name`)."""
    key: EncryptionKey | None
    """Key for SSE-KMS; readers are granted ``kms:Decrypt`` on it along with the objects. ``None``
    means SSE-S3, which only a server-access-log target needs (S3 cannot deliver those logs to SSE-KMS buckets)."""
    tags: Mapping[str, str]
    access_log_bucket: Bucket | None = None
    """Where S3 server access logs go (prefix ``s3/<bucket>/``). Left out: no access logging (only for the logs bucket itself)."""
    expire_after_days: int | None = None
    """Objects (and old versions) are deleted after this many days. Left out: kept forever."""
    object_lock_days: int | None = None
    """Compliance-mode Object Lock for this many days: nobody can delete or overwrite an object earlier. Left out: no lock."""
    protect: bool = True
    """Pulumi ``protect`` on the bucket."""
    log_delivery_account: pulumi.Input[str] | None = None
    """Lets S3 deliver server access logs of this account's buckets under ``s3/``. Left out: no delivery."""


class Bucket(Component):
    """A private S3 bucket with the security baseline applied."""

    def __init__(self, name: str, args: BucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("Bucket", name, args.tags, opts)
        self._key = args.key
        self.bucket = aws.s3.Bucket(
            self.child_name("bucket"),
            bucket=args.bucket_name,
            object_lock_enabled=args.object_lock_days is not None,
            tags=self.tags,
            opts=self.child_opts(protect=args.protect),
        )
        self.arn = self.bucket.arn
        self.id = self.bucket.id
        self._block_public_access()
        self._encrypt_and_version()
        self._bucket_policy(args.log_delivery_account)
        if args.access_log_bucket is not None:
            self._log_access_to(args.access_log_bucket)
        if args.expire_after_days is not None:
            self._expire(args.expire_after_days)
        if args.object_lock_days is not None:
            self._lock(args.object_lock_days)
        self.register_outputs({"name": self.bucket.bucket})

    def _block_public_access(self) -> None:
        aws.s3.BucketPublicAccessBlock(
            self.child_name("public-access-block"),
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=self.child_opts(),
        )
        # ACLs disabled: access is decided by IAM and the bucket policy only.
        aws.s3.BucketOwnershipControls(
            self.child_name("ownership"),
            bucket=self.bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=self.child_opts(),
        )

    def _encrypt_and_version(self) -> None:
        default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm="AES256"
        )
        if self._key is not None:
            default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="aws:kms", kms_master_key_id=self._key.arn
            )
        aws.s3.BucketServerSideEncryptionConfiguration(
            self.child_name("encryption"),
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=default,
                    # Bucket keys cut KMS requests (and cost) by orders of magnitude for many small objects.
                    bucket_key_enabled=self._key is not None,
                )
            ],
            opts=self.child_opts(),
        )
        self.versioning = aws.s3.BucketVersioning(
            self.child_name("versioning"),
            bucket=self.bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=self.child_opts(),
        )

    def _bucket_policy(self, log_delivery_account: pulumi.Input[str] | None) -> None:
        policy = pulumi.Output.all(self.bucket.arn, log_delivery_account).apply(
            lambda v: iam_policies.bucket_policy(v[0], log_delivery_account=v[1])
        )
        aws.s3.BucketPolicy(self.child_name("policy"), bucket=self.bucket.id, policy=policy, opts=self.child_opts())

    def _log_access_to(self, target: Bucket) -> None:
        aws.s3.BucketLogging(
            self.child_name("access-logging"),
            bucket=self.bucket.id,
            target_bucket=target.bucket.id,
            target_prefix=self.bucket.bucket.apply(lambda b: f"s3/{b}/"),
            opts=self.child_opts(),
        )

    def _expire(self, days: int) -> None:
        aws.s3.BucketLifecycleConfiguration(
            self.child_name("lifecycle"),
            bucket=self.bucket.id,
            rules=[
                {
                    "id": "expire",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "expiration": {"days": days},
                    "noncurrent_version_expiration": {"noncurrent_days": days},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                }
            ],
            opts=self.child_opts(depends_on=[self.versioning]),
        )

    def _lock(self, days: int) -> None:
        aws.s3.BucketObjectLockConfiguration(
            self.child_name("object-lock"),
            bucket=self.bucket.id,
            rule={"default_retention": {"mode": "COMPLIANCE", "days": days}},
            opts=self.child_opts(depends_on=[self.versioning]),
        )

    # --- grants ---------------------------------------------------------------------

    def grant_read(self, name: str, role: aws.iam.Role, prefix: str, parent: pulumi.Resource) -> aws.iam.RolePolicy:
        """Let ``role`` read objects under ``prefix`` (and decrypt them with this bucket's key)."""
        return self._grant(name, role, parent, lambda b, k: iam_policies.s3_read(b, prefix, k))

    def grant_write(self, name: str, role: aws.iam.Role, prefix: str, parent: pulumi.Resource) -> aws.iam.RolePolicy:
        """Let ``role`` write objects under ``prefix`` (encrypting them with this bucket's key)."""
        return self._grant(name, role, parent, lambda b, k: iam_policies.s3_write(b, prefix, k))

    def _grant(
        self,
        name: str,
        role: aws.iam.Role,
        parent: pulumi.Resource,
        statements: Callable[[str, str | None], list[iam_policies.Statement]],
    ) -> aws.iam.RolePolicy:
        key_arn = self._key.arn if self._key is not None else None
        policy = pulumi.Output.all(self.bucket.arn, key_arn).apply(
            lambda arns: iam_policies.document(*statements(arns[0], arns[1]))
        )
        return aws.iam.RolePolicy(name, role=role.id, policy=policy, opts=pulumi.ResourceOptions(parent=parent))
