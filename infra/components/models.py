"""Per ``Model`` spec: the model server's IAM role, its grants and its Pod Identity binding.

The model's availability and latency objectives are Prometheus rules and alerts
(:mod:`infra.components.monitoring`), read from what the model server exposes.

Pod Identity rather than IRSA: no OIDC provider to create and rotate, one principal
trusted by every role (``pods.eks.amazonaws.com``, for this cluster and service account
only), and the namespace/service-account binding lives in an EKS association that
appears and disappears with the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from infra.components.buckets import Bucket
from infra.components.cluster import Cluster
from infra.components.component import Component
from infra.components.decision_log import DecisionLog
from infra.components.online_store import OnlineStore
from infra.naming import SERVICES_NAMESPACE, model_service_account
from mlplat.spec.kinds import Model


@dataclass(frozen=True)
class ModelServingArgs:
    """What one model's server may touch."""

    model: Model
    environment: str
    cluster: Cluster
    artifacts: Bucket
    """The server reads only ``<model name>/`` here."""
    decision_log: DecisionLog
    online_store: OnlineStore
    tags: Mapping[str, str]
    """Tags of this model's resources (platform tags plus the spec's owner)."""


class ModelServing(Component):
    """The AWS side of one model's server."""

    def __init__(self, name: str, args: ModelServingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ModelServing", name, args.tags, opts)
        model = args.model.metadata.name
        self.service_account = model_service_account(model)
        self.role = args.cluster.pod_role(
            self.child_name("role"), SERVICES_NAMESPACE, self.service_account, self, self.tags
        )
        self.role_arn = self.role.arn
        args.artifacts.grant_read(self.child_name("read-artifacts"), self.role, f"{model}/", self)
        args.decision_log.grant_put(self.child_name("put-decisions"), self.role, self)
        # The model server reads features in-process, so it needs the online store's token.
        args.online_store.grant_read_auth_token(self.child_name("read-auth-token"), self.role, self)
        self.pod_identity = args.cluster.bind_service_account(
            self.child_name("pod-identity"), self.role, SERVICES_NAMESPACE, self.service_account, self, self.tags
        )
        self.register_outputs({"roleArn": self.role.arn})
