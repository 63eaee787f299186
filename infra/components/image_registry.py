"""ECR repositories for the service and job images: immutable tags, scanned on push, KMS-encrypted."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import iam_policies
from infra.components.component import Component
from infra.components.keys import EncryptionKey

#: Untagged layers older than this are expired; tagged releases are kept.
UNTAGGED_DAYS = 14


@dataclass(frozen=True)
class ImageRegistryArgs:
    """Which repositories to create, and their encryption key."""

    repositories: Sequence[str]
    """Repository names, e.g. ``mlplat-prod-feature-server``."""
    key: EncryptionKey
    tags: Mapping[str, str]


def lifecycle_policy() -> str:
    """Expire untagged images; tags are immutable so every released tag stays pullable."""
    rule = {
        "rulePriority": 1,
        "description": f"expire untagged images after {UNTAGGED_DAYS} days",
        "selection": {
            "tagStatus": "untagged",
            "countType": "sinceImagePushed",
            "countUnit": "days",
            "countNumber": UNTAGGED_DAYS,
        },
        "action": {"type": "expire"},
    }
    return json.dumps({"rules": [rule]})


class ImageRegistry(Component):
    """One private repository per image (the services', the Spark jobs')."""

    def __init__(self, name: str, args: ImageRegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ImageRegistry", name, args.tags, opts)
        self.repositories: dict[str, aws.ecr.Repository] = {}
        for repository in args.repositories:
            self.repositories[repository] = self._repository(repository, args.key)
        self.register_outputs({"urls": {n: r.repository_url for n, r in self.repositories.items()}})

    def _repository(self, repository: str, key: EncryptionKey) -> aws.ecr.Repository:
        created = aws.ecr.Repository(
            self.child_name(repository),
            name=repository,
            # A tag always names the same image: deployments are reproducible and a
            # pushed tag cannot be swapped under a running Deployment.
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "KMS", "kms_key": key.arn}],
            tags=self.tags,
            opts=self.child_opts(),
        )
        aws.ecr.LifecyclePolicy(
            self.child_name(f"{repository}-lifecycle"),
            repository=created.name,
            policy=lifecycle_policy(),
            opts=self.child_opts(),
        )
        return created

    def url(self, repository: str) -> pulumi.Output[str]:
        """``<account>.dkr.ecr.<region>.amazonaws.com/<repository>``."""
        return self.repositories[repository].repository_url

    def allow_emr_serverless_pull(
        self, repository: str, application: aws.emrserverless.Application
    ) -> aws.ecr.RepositoryPolicy:
        """Let EMR Serverless pull ``repository``'s images as the runtime of ``application`` (and no other).

        The condition names the application's ARN, so the policy follows the application:
        it exists before the application is given the image (a later ``pulumi up``, see
        :class:`infra.config.ImagesConfig`), which is when EMR checks it may pull.
        """
        return aws.ecr.RepositoryPolicy(
            self.child_name(f"{repository}-policy"),
            repository=self.repositories[repository].name,
            policy=application.arn.apply(iam_policies.emr_serverless_image_pull),
            opts=self.child_opts(),
        )
