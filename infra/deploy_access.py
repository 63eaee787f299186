"""Who may deploy the platform, as IAM documents: GitHub Actions' OIDC trust and the deploy and preview rights.

Pure functions (plain dicts), read by :mod:`infra.bootstrap` and by its tests. A workflow
job gets short-lived credentials by exchanging its GitHub OIDC token for a role
(``aws-actions/configure-aws-credentials``): no access key is stored anywhere. The token's
``sub`` names the repository and either the GitHub environment of the job
(``repo:<owner>/<repo>:environment:prod``), so only jobs of that environment, behind its
protection rules, get the deploy role; or ``pull_request`` for the preview role
(https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from infra.iam_policies import Statement

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
#: The audience configure-aws-credentials requests.
STS_AUDIENCE = "sts.amazonaws.com"

#: Services whose resources the platform stack creates; the deploy role manages them in its region only.
PLATFORM_SERVICES = (
    "aps",
    "autoscaling",
    "cloudwatch",
    "ec2",
    "ecr",
    "eks",
    "elasticache",
    "emr-serverless",
    "events",
    "firehose",
    "kinesis",
    "kms",
    "logs",
    "rds",
    "s3",
    "scheduler",
    "secretsmanager",
    "sns",
)
#: AWS managed policies the program attaches to its roles (and the only ones the deploy role may attach),
#: with their path: ``arn:aws:iam::aws:policy/<path and name>``.
ATTACHABLE_POLICIES = (
    "AmazonEKSClusterPolicy",
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
    "CloudWatchAgentServerPolicy",
    "service-role/AmazonRDSEnhancedMonitoringRole",
)
#: Services the program's roles are passed to.
PASSED_TO = (
    "eks.amazonaws.com",
    "ec2.amazonaws.com",
    "pods.eks.amazonaws.com",
    "emr-serverless.amazonaws.com",
    "scheduler.amazonaws.com",
    "firehose.amazonaws.com",
    "vpc-flow-logs.amazonaws.com",
    "monitoring.rds.amazonaws.com",
)
#: Service-linked roles the services create, as the caller, on first use in a fresh account: per resource
#: type, the ``iam:AWSServiceName`` of each (EKS, https://docs.aws.amazon.com/eks/latest/userguide/using-service-linked-roles.html;
#: the node groups' Auto Scaling groups; RDS, ElastiCache; EMR Serverless,
#: https://docs.aws.amazon.com/emr/latest/EMR-Serverless-UserGuide/using-service-linked-roles.html; the
#: Managed Prometheus scraper, https://docs.aws.amazon.com/prometheus/latest/userguide/using-service-linked-roles.html).
SERVICE_LINKED_BY_TYPE: Mapping[str, tuple[str, ...]] = {
    "aws:eks/cluster:Cluster": ("eks.amazonaws.com",),
    "aws:eks/nodeGroup:NodeGroup": ("eks-nodegroup.amazonaws.com", "autoscaling.amazonaws.com"),
    "aws:rds/instance:Instance": ("rds.amazonaws.com",),
    "aws:elasticache/replicationGroup:ReplicationGroup": ("elasticache.amazonaws.com",),
    "aws:emrserverless/application:Application": ("ops.emr-serverless.amazonaws.com",),
    "aws:amp/scraper:Scraper": ("scraper.aps.amazonaws.com",),
}
SERVICE_LINKED = tuple(dict.fromkeys(name for names in SERVICE_LINKED_BY_TYPE.values() for name in names))
#: The IAM service prefix of a resource type, where its Pulumi module's name is not it
#: (https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html).
_IAM_PREFIX_OF_MODULE = {"amp": "aps", "emrserverless": "emr-serverless", "vpc": "ec2"}
_IAM_PREFIX_OF_TYPE = {
    "aws:cloudwatch/logGroup:LogGroup": "logs",
    "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream": "firehose",
}


def github_trust(provider_arn: str, repository: str, subjects: Sequence[str]) -> dict[str, object]:
    """Trust policy: GitHub Actions jobs of ``repository`` whose token ``sub`` is one of ``subjects``.

    ``subjects`` are the parts after ``repo:<repository>:``, e.g. ``environment:prod`` or ``pull_request``.
    """
    if repository.count("/") != 1 or not all(repository.split("/")):
        raise ValueError(f"githubRepository {repository!r} must be <owner>/<name>, e.g. 'bnpl/mlplat'")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": STS_AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": [f"repo:{repository}:{subject}" for subject in subjects],
                    }
                },
            }
        ],
    }


def _arn(partition: str, service: str, account: str, resource: str, region: str = "") -> str:
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"


def state_access(state_bucket_arn: str, secrets_key_arn: str, *, write: bool) -> list[Statement]:
    """The Pulumi state in S3 and the KMS key of its secrets provider."""
    object_actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"] if write else ["s3:GetObject"]
    key_actions = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"] if write else ["kms:Decrypt"]
    return [
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": state_bucket_arn},
        {"Effect": "Allow", "Action": object_actions, "Resource": f"{state_bucket_arn}/*"},
        {"Effect": "Allow", "Action": key_actions, "Resource": secrets_key_arn},
    ]


def program_roles(partition: str, account: str, environment: str) -> str:
    """The roles one environment's program creates: ``mlplat-<environment>-*`` (see :func:`infra.naming.physical_name`)."""
    return _arn(partition, "iam", account, f"role/mlplat-{environment}-*")


def deploy_role_name(environment: str) -> str:
    """``github-mlplat-deploy-<environment>``: outside ``mlplat-*``, so no deploy role can edit itself."""
    return f"github-mlplat-deploy-{environment}"


PREVIEW_ROLE_NAME = "github-mlplat-preview"


def deploy_rights(partition: str, account: str, region: str, environment: str) -> list[Statement]:
    """What ``pulumi up`` of one environment needs, and no more than its services, region and names.

    * The platform's services, in the stack's region only.
    * IAM only on the environment's own roles (``mlplat-<environment>-*``), managed
      policies from :data:`ATTACHABLE_POLICIES` only, roles passed only to the services
      that use them. The deploy roles themselves are named outside that prefix.
    * Explicitly never: assuming another role, users, access keys, account or
      organization changes, so a deploy role cannot turn into a person.
    """
    role = program_roles(partition, account, environment)
    attachable = [_arn(partition, "iam", "aws", f"policy/{name}") for name in ATTACHABLE_POLICIES]
    return [
        {
            "Effect": "Allow",
            "Action": [f"{service}:*" for service in PLATFORM_SERVICES],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
        },
        {
            "Effect": "Allow",
            "Action": [
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:GetRole",
                "iam:UpdateRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:ListRolePolicies",
                "iam:ListAttachedRolePolicies",
                "iam:ListInstanceProfilesForRole",
                "iam:GetRolePolicy",
                "iam:PutRolePolicy",
                "iam:DeleteRolePolicy",
            ],
            "Resource": role,
        },
        {
            "Effect": "Allow",
            "Action": ["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
            "Resource": role,
            "Condition": {"ArnEquals": {"iam:PolicyARN": attachable}},
        },
        {
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": role,
            "Condition": {"StringEquals": {"iam:PassedToService": list(PASSED_TO)}},
        },
        {
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": "*",
            "Condition": {"StringEquals": {"iam:AWSServiceName": list(SERVICE_LINKED)}},
        },
        {"Effect": "Allow", "Action": ["iam:GetPolicy", "iam:GetPolicyVersion"], "Resource": attachable},
        {
            "Effect": "Deny",
            "Action": [
                "sts:AssumeRole",
                "iam:CreateUser",
                "iam:CreateAccessKey",
                "iam:CreateLoginProfile",
                "iam:UpdateLoginProfile",
                "organizations:*",
                "account:*",
            ],
            "Resource": "*",
        },
    ]


def preview_rights(partition: str, account: str, state_bucket_arn: str) -> list[Statement]:
    """What ``pulumi preview`` needs beyond the AWS-managed ``ViewOnlyAccess`` (names, no data):
    the program's roles. Reading any data but the Pulumi state is denied outright."""
    return [
        {"Effect": "Allow", "Action": "iam:GetRole", "Resource": _arn(partition, "iam", account, "role/mlplat-*")},
        {
            "Effect": "Deny",
            "Action": ["s3:GetObject", "secretsmanager:GetSecretValue", "kinesis:GetRecords"],
            "NotResource": f"{state_bucket_arn}/*",
        },
    ]


def iam_prefix(resource_type: str) -> str:
    """The IAM service prefix whose actions create ``resource_type`` (``aws:amp/scraper:Scraper`` -> ``aps``)."""
    module = resource_type.split(":")[1].split("/", maxsplit=1)[0]
    return _IAM_PREFIX_OF_TYPE.get(resource_type, _IAM_PREFIX_OF_MODULE.get(module, module))


def _trusted_services(trust_policy: str) -> set[str]:
    statements = json.loads(trust_policy).get("Statement", [])
    principals = [s.get("Principal", {}).get("Service", []) for s in statements if isinstance(s.get("Principal"), dict)]
    return {p for found in principals for p in ([found] if isinstance(found, str) else found)}


def deploy_rights_problems(resources: Iterable[tuple[str, str, Mapping[str, Any]]]) -> list[str]:
    """What the deploy role (:func:`deploy_rights`) would be refused when ``pulumi up`` creates ``resources``.

    ``resources`` are ``(type, logical name, inputs)`` of a rendered platform stack: each AWS
    type's service must be in :data:`PLATFORM_SERVICES`, each attached managed policy in
    :data:`ATTACHABLE_POLICIES`, each role's trusted service in :data:`PASSED_TO` (the role is
    passed to it), each service-linked role in :data:`SERVICE_LINKED`. A right added here
    reaches the account when the bootstrap stack is deployed again (docs/infra.md).
    """
    problems: set[str] = set()
    fix = "add it in infra/deploy_access.py and deploy the bootstrap stack again"
    for resource_type, name, inputs in resources:
        if not resource_type.startswith("aws:"):
            continue
        prefix = iam_prefix(resource_type)
        if prefix not in (*PLATFORM_SERVICES, "iam"):
            problems.add(f"{resource_type}: the deploy role has no {prefix}:* rights (PLATFORM_SERVICES); {fix}")
        problems.update(
            f"{resource_type}: the deploy role may not create the {service} service-linked role; {fix}"
            for service in SERVICE_LINKED_BY_TYPE.get(resource_type, ())
            if service not in SERVICE_LINKED
        )
        policy = (
            inputs.get("policyArn") if resource_type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment" else None
        )
        if isinstance(policy, str) and policy.partition(":policy/")[2] not in ATTACHABLE_POLICIES:
            problems.add(f"{name}: the deploy role may not attach {policy} (ATTACHABLE_POLICIES); {fix}")
        trust = inputs.get("assumeRolePolicy") if resource_type == "aws:iam/role:Role" else None
        if isinstance(trust, str):
            problems.update(
                f"{name}: the deploy role may not pass roles to {service} (PASSED_TO); {fix}"
                for service in sorted(_trusted_services(trust) - set(PASSED_TO))
            )
    return sorted(problems)
