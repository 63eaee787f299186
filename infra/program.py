"""The platform stack: every AWS resource of one environment, from the catalog and the typed config.

``infra/__main__.py`` calls :func:`build_platform` under ``pulumi up``; tests and benchmarks
call it directly under Pulumi mocks. The Kubernetes objects are the workloads stack's
(:mod:`infra.workloads_program`): it reads this stack's outputs through a
``StackReference``, so it runs once the cluster, the roles and the image repositories exist
(and the images are pushed), from a runner that can reach the cluster's API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import alarms
from infra.components.batch import Batch, BatchArgs
from infra.components.buckets import Bucket, BucketArgs
from infra.components.cluster import Cluster, ClusterArgs
from infra.components.database import Database, DatabaseArgs
from infra.components.decision_log import DecisionLog, DecisionLogArgs
from infra.components.feature_views import MaterializationSchedule, MaterializationScheduleArgs
from infra.components.image_registry import ImageRegistry, ImageRegistryArgs
from infra.components.keys import EncryptionKey, EncryptionKeyArgs
from infra.components.model_monitoring import ModelMonitoring, ModelMonitoringArgs
from infra.components.models import ModelServing, ModelServingArgs
from infra.components.monitoring import Monitoring, MonitoringArgs
from infra.components.network import Network, NetworkArgs
from infra.components.observability import Observability, ObservabilityArgs
from infra.components.online_store import REDIS_PORT, OnlineStore, OnlineStoreArgs
from infra.config import AWS_REGION_KEY, StackConfig, in_provider_region, parse_stack_config
from infra.materialization import EMR_RELEASE_LABEL, view_catalog
from infra.model_monitoring import model_catalog
from infra.naming import (
    FEATURE_SERVER_IMAGE,
    FEATURE_SERVER_SERVICE_ACCOUNT,
    JOBS_IMAGE,
    MODEL_SERVER_IMAGE,
    SERVICES_NAMESPACE,
    bucket_name,
    physical_name,
    platform_tags,
    spec_tags,
)
from infra.scraping import scrape_configuration
from mlplat.catalog import Catalog
from mlplat.name_limits import derived
from mlplat.operations.rules import AlertPolicy, catalog_rules


@dataclass
class Platform:
    """What :func:`build_platform` made: the shared components, the per-spec ones, the stack outputs."""

    cluster: Cluster
    database: Database
    online_store: OnlineStore
    batch: Batch
    feature_server_role: aws.iam.Role
    images: ImageRegistry | None = None
    monitoring: Monitoring | None = None
    models: dict[str, ModelServing] = field(default_factory=dict)
    schedules: dict[str, MaterializationSchedule] = field(default_factory=dict)
    model_monitors: dict[str, ModelMonitoring] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Keys:
    data: EncryptionKey
    cluster: EncryptionKey
    logs: EncryptionKey
    alerts: EncryptionKey


@dataclass(frozen=True)
class _Buckets:
    logs: Bucket
    offline: Bucket
    artifacts: Bucket
    decisions: Bucket


def stack_config_from_pulumi() -> StackConfig:
    """The running stack's ``mlplat:platform`` object, parsed (``pulumi up`` / ``preview``), in the provider's region."""
    config = parse_stack_config(pulumi.Config("mlplat").require_object("platform"))
    return in_provider_region(config, pulumi.Config("aws").get("region"), AWS_REGION_KEY)


def build_platform(catalog: Catalog, config: StackConfig) -> Platform:
    """Every AWS resource of the stack: shared platform first, then one group per spec."""
    tags = platform_tags(config.environment)
    keys = _keys(config, tags)
    network = _network(config, keys, tags)
    buckets = _buckets(config, keys, tags)
    cluster = _cluster(config, network, keys, tags)
    database, online_store = _stores(config, network, keys, tags)
    images = _images(config, keys, tags)
    batch = _batch(config, network, keys, buckets, database, online_store, images, tags)
    # The stores admit exactly these two groups: the cluster's nodes and the Spark jobs.
    for label, group in (("nodes", cluster.node_security_group), ("batch", batch.security_group)):
        database.allow_from(label, group)
        online_store.allow_from(label, group)
    feature_server_role = _feature_server_identity(config, cluster, online_store, tags)
    decision_log = _decision_log(config, keys, buckets, tags)
    alerts = _alerts(config, keys, tags, database, online_store, cluster, batch)
    platform = Platform(
        cluster=cluster,
        database=database,
        online_store=online_store,
        batch=batch,
        feature_server_role=feature_server_role,
        images=images,
    )
    _models(platform, catalog, config, buckets, decision_log)
    _schedules(platform, catalog, config, buckets, database, online_store)
    platform.monitoring = _monitoring(platform, catalog, config, network, keys, alerts)
    _model_monitors(platform, catalog, config, buckets, platform.monitoring)
    platform.outputs = _outputs(config, network, platform, buckets, decision_log, alerts)
    platform.outputs["catalogDigest"] = catalog.digest
    platform.outputs["stackConfigDigest"] = config.digest
    return platform


def _network(config: StackConfig, keys: _Keys, tags: dict[str, str]) -> Network:
    return Network(
        physical_name(config.environment),
        NetworkArgs(
            vpc_cidr=config.network.vpc_cidr,
            zones=config.availability_zones,
            region=config.region,
            nat_gateways=config.network.nat_gateways,
            logs_key=keys.logs,
            flow_log_retention_days=config.network.flow_log_retention_days,
            tags=tags,
        ),
    )


def _cluster(config: StackConfig, network: Network, keys: _Keys, tags: dict[str, str]) -> Cluster:
    return Cluster(
        physical_name(config.environment, "cluster"),
        ClusterArgs(
            cluster_name=physical_name(config.environment),
            kubernetes_version=config.cluster.kubernetes_version,
            network=network,
            secrets_key=keys.cluster,
            logs_key=keys.logs,
            system_nodes=config.cluster.system_nodes,
            serving_nodes=config.cluster.serving_nodes,
            addons=config.cluster.addons,
            log_retention_days=config.cluster.log_retention_days,
            public_access_cidrs=config.cluster.public_access_cidrs,
            deploy_role_arn=config.cluster.deploy_role_arn,
            admin_role_arns=config.cluster.admin_role_arns,
            viewer_role_arns=config.cluster.viewer_role_arns,
            protect=config.protect,
            tags=tags,
        ),
    )


def _stores(config: StackConfig, network: Network, keys: _Keys, tags: dict[str, str]) -> tuple[Database, OnlineStore]:
    registry, online = physical_name(config.environment, "registry"), physical_name(config.environment, "online")
    database = Database(
        registry,
        DatabaseArgs(
            identifier=registry,
            network=network,
            key=keys.data,
            config=config.database,
            protect=config.protect,
            tags=tags,
            logs_key=keys.logs,
            log_retention_days=config.cluster.log_retention_days,
        ),
    )
    online_store = OnlineStore(
        online,
        OnlineStoreArgs(
            group_id=online,
            network=network,
            key=keys.data,
            config=config.cache,
            protect=config.protect,
            tags=tags,
        ),
    )
    return database, online_store


def _batch(
    config: StackConfig,
    network: Network,
    keys: _Keys,
    buckets: _Buckets,
    database: Database,
    online_store: OnlineStore,
    images: ImageRegistry,
    tags: dict[str, str],
) -> Batch:
    repository = physical_name(config.environment, JOBS_IMAGE)
    batch = Batch(
        physical_name(config.environment, "batch"),
        BatchArgs(
            application_name=physical_name(config.environment, "materialize"),
            network=network,
            config=config.batch,
            key=keys.data,
            logs_key=keys.logs,
            offline=buckets.offline,
            artifacts=buckets.artifacts,
            logs=buckets.logs,
            secret_arns=[online_store.auth_secret_arn, database.master_secret_arn],
            tags=tags,
            image_uri=_job_image(config, images.url(repository)),
        ),
    )
    images.allow_emr_serverless_pull(repository, batch.application)
    return batch


def _job_image(config: StackConfig, repository_url: pulumi.Output[str]) -> pulumi.Output[str] | None:
    """The application's image, ``images.jobsRuntime`` (a pushed tag); ``None`` until one is set (EMR checks it exists)."""
    tag = config.images.jobs_runtime
    if tag is None:
        return None
    return repository_url.apply(lambda url: f"{url}:{tag}")


def _feature_server_identity(
    config: StackConfig, cluster: Cluster, online_store: OnlineStore, tags: dict[str, str]
) -> aws.iam.Role:
    """The feature server's role (it reads the online store's AUTH token, nothing else), bound to its account."""
    name = physical_name(config.environment, "feature-server")
    role = cluster.pod_role(f"{name}-role", SERVICES_NAMESPACE, FEATURE_SERVER_SERVICE_ACCOUNT, cluster, tags)
    online_store.grant_read_auth_token(f"{name}-read-auth-token", role, cluster)
    cluster.bind_service_account(
        f"{name}-pod-identity", role, SERVICES_NAMESPACE, FEATURE_SERVER_SERVICE_ACCOUNT, cluster, tags
    )
    return role


def _images(config: StackConfig, keys: _Keys, tags: dict[str, str]) -> ImageRegistry:
    env = config.environment
    repositories = [physical_name(env, image) for image in (FEATURE_SERVER_IMAGE, MODEL_SERVER_IMAGE, JOBS_IMAGE)]
    return ImageRegistry(
        physical_name(env, "images"), ImageRegistryArgs(repositories=repositories, key=keys.data, tags=tags)
    )


def _monitoring(
    platform: Platform, catalog: Catalog, config: StackConfig, network: Network, keys: _Keys, alerts: Observability
) -> Monitoring:
    """The services' metrics into Managed Prometheus, with the catalog's SLO rules and alerts."""
    env = config.environment
    return Monitoring(
        physical_name(env, "monitoring"),
        MonitoringArgs(
            workspace_alias=physical_name(env),
            cluster=platform.cluster,
            subnet_ids=network.scraper_subnet_ids,
            subnet_zones=network.scraper_zones,
            namespace=SERVICES_NAMESPACE,
            scrape_configuration=scrape_configuration(SERVICES_NAMESPACE, env),
            rules=catalog_rules(catalog, AlertPolicy(runbook_base=config.alerts.runbook_base_url)).to_yaml(),
            alerts=alerts,
            account_id=aws.get_caller_identity_output().account_id,
            region=config.region,
            logs_key=keys.logs,
            log_retention_days=config.cluster.log_retention_days,
            tags=platform_tags(env),
        ),
    )


def _decision_log(config: StackConfig, keys: _Keys, buckets: _Buckets, tags: dict[str, str]) -> DecisionLog:
    name = physical_name(config.environment, "decisions")
    return DecisionLog(
        name,
        DecisionLogArgs(
            stream_name=name, config=config.decision_log, key=keys.data, archive=buckets.decisions, tags=tags
        ),
    )


def _keys(config: StackConfig, tags: dict[str, str]) -> _Keys:
    env = config.environment
    identity = aws.get_caller_identity_output()
    partition = aws.get_partition_output().partition

    def key(purpose: str, description: str, services: tuple[str, ...] = ()) -> EncryptionKey:
        return EncryptionKey(
            physical_name(env, f"{purpose}-key"),
            EncryptionKeyArgs(
                alias=physical_name(env, purpose),
                description=description,
                account_id=identity.account_id,
                partition=partition,
                region=config.region,
                services=services,
                protect=config.protect,
                tags=tags,
            ),
        )

    return _Keys(
        data=key("data", "mlplat data at rest: registry, online store, buckets, streams, secrets"),
        cluster=key("cluster", "mlplat EKS secrets envelope encryption"),
        logs=key("logs", "mlplat CloudWatch log groups", ("logs",)),
        alerts=key("alerts", "mlplat alert topic", ("alarms", "prometheus")),
    )


def _buckets(config: StackConfig, keys: _Keys, tags: dict[str, str]) -> _Buckets:
    env = config.environment
    account = aws.get_caller_identity_output().account_id

    def name(purpose: str) -> pulumi.Output[str]:
        return account.apply(lambda a: bucket_name(env, purpose, a, config.region))

    # SSE-S3: S3 cannot deliver server access logs into an SSE-KMS bucket. What else lands
    # here (EMR job logs) is encrypted by its writer with the data key.
    logs = Bucket(
        physical_name(env, "logs"),
        BucketArgs(
            bucket_name=name("logs"),
            key=None,
            log_delivery_account=account,
            expire_after_days=config.log_retention_days,
            protect=config.protect,
            tags=tags,
        ),
    )

    def data_bucket(purpose: str, object_lock_days: int | None = None) -> Bucket:
        return Bucket(
            physical_name(env, purpose),
            BucketArgs(
                bucket_name=name(purpose),
                key=keys.data,
                access_log_bucket=logs,
                object_lock_days=object_lock_days,
                protect=config.protect,
                tags=tags,
            ),
        )

    return _Buckets(
        logs=logs,
        offline=data_bucket("offline"),
        artifacts=data_bucket("artifacts"),
        decisions=data_bucket("decision-archive", config.decision_log.object_lock_days),
    )


def _alerts(
    config: StackConfig,
    keys: _Keys,
    tags: dict[str, str],
    database: Database,
    online_store: OnlineStore,
    cluster: Cluster,
    batch: Batch,
) -> Observability:
    env = config.environment
    alerts = Observability(
        physical_name(env, "alerts"),
        ObservabilityArgs(
            topic_name=physical_name(env, "alerts"), key=keys.alerts, emails=config.alerts.emails, tags=tags
        ),
    )
    registry, online = physical_name(env, "registry"), physical_name(env, "online")
    groups = [
        (registry, alarms.database_alarms(registry, config.database.allocated_storage_gb)),
        (online, alarms.cache_alarms(online, 1 + config.cache.replicas)),
        (physical_name(env, "nodes"), alarms.node_alarms(physical_name(env))),
        (physical_name(env, "batch"), alarms.batch_alarms(batch.application_id, EMR_RELEASE_LABEL)),
    ]
    for owner, specs in groups:
        for spec in specs:
            alerts.alarm(owner, spec, tags)
    return alerts


def _models(
    platform: Platform,
    catalog: Catalog,
    config: StackConfig,
    buckets: _Buckets,
    decision_log: DecisionLog,
) -> None:
    base = platform_tags(config.environment)
    for name, model in catalog.models.items():
        platform.models[name] = ModelServing(
            physical_name(config.environment, "model", name),
            ModelServingArgs(
                model=model,
                environment=config.environment,
                cluster=platform.cluster,
                artifacts=buckets.artifacts,
                decision_log=decision_log,
                online_store=platform.online_store,
                tags=spec_tags(base, "Model", name, model.metadata.owner),
            ),
        )


def _schedules(
    platform: Platform,
    catalog: Catalog,
    config: StackConfig,
    buckets: _Buckets,
    database: Database,
    online_store: OnlineStore,
) -> None:
    base, env = platform_tags(config.environment), config.environment
    job_environment: dict[str, pulumi.Input[str]] = {
        "MLPLAT_ENVIRONMENT": env,
        "MLPLAT_OFFLINE_ROOT": buckets.offline.bucket.bucket.apply(lambda b: f"s3://{b}/"),
        "MLPLAT_ONLINE_STORE_HOST": online_store.primary_endpoint,
        "MLPLAT_ONLINE_STORE_PORT": str(REDIS_PORT),
        "MLPLAT_ONLINE_STORE_AUTH_SECRET_ARN": online_store.auth_secret_arn,
        "MLPLAT_REGISTRY_HOST": database.address,
        "MLPLAT_REGISTRY_SECRET_ARN": database.master_secret_arn,
    }
    for name, view in catalog.feature_views.items():
        if view.spec.materialization is None:
            continue
        platform.schedules[name] = MaterializationSchedule(
            physical_name(env, "materialize", name),
            MaterializationScheduleArgs(
                view=name,
                every=view.spec.materialization.every,
                environment=env,
                schedule_name=derived("materialization schedule").render(env, name),
                view_catalog=view_catalog(catalog, name),
                batch=platform.batch,
                artifacts=buckets.artifacts,
                job_environment=job_environment,
                tags=spec_tags(base, "FeatureView", name, view.metadata.owner),
            ),
        )


def _label_source_key(catalog: Catalog, model: str) -> str | None:
    """The label source's key in the offline bucket, if the model has one there."""
    training = catalog.model(model).spec.training
    if training is None:
        return None
    path = catalog.sources[training.label_source].spec.path
    return None if path is None or path.startswith("s3://") else path


def _model_monitors(
    platform: Platform, catalog: Catalog, config: StackConfig, buckets: _Buckets, monitoring: Monitoring
) -> None:
    """Each served model's monitoring job on the batch application, on its ``spec.monitoring.schedule``."""
    base, env = platform_tags(config.environment), config.environment
    for name, model in catalog.models.items():
        platform.model_monitors[name] = ModelMonitoring(
            physical_name(env, "monitor", name),
            ModelMonitoringArgs(
                model=name,
                every=model.spec.monitoring.schedule,
                environment=env,
                region=config.region,
                role_name=derived("monitoring job's IAM role").render(env, name),
                schedule_name=derived("monitoring schedule").render(env, name),
                model_catalog=model_catalog(catalog, name),
                label_source_path=_label_source_key(catalog, name),
                profile_prefix=f"{name}/",
                batch=platform.batch,
                artifacts=buckets.artifacts,
                archive=buckets.decisions,
                offline=buckets.offline,
                workspace_arn=monitoring.workspace.arn,
                prometheus_endpoint=monitoring.workspace.prometheus_endpoint,
                arrival_span_hours=config.decision_log.stream_retention_hours,
                tags=spec_tags(base, "Model", name, model.metadata.owner),
            ),
        )


def _outputs(
    config: StackConfig,
    network: Network,
    platform: Platform,
    buckets: _Buckets,
    decision_log: DecisionLog,
    alerts: Observability,
) -> dict[str, Any]:
    """Stack outputs: names, endpoints and ARNs only. Nothing secret is exported at all:
    clients read passwords from the Secrets Manager ARNs listed here."""
    cluster, database, online_store, batch = platform.cluster, platform.database, platform.online_store, platform.batch
    return {
        "environment": config.environment,
        "vpcId": network.vpc.id,
        "privateSubnetIds": network.private_subnet_ids,
        # The workloads stack admits these blocks, and only these, to the metrics port.
        "scraperSubnetCidrs": [subnet.cidr_block for subnet in network.scraper_subnets],
        "clusterName": cluster.cluster.name,
        "clusterEndpoint": cluster.cluster.endpoint,
        "clusterCertificateAuthority": cluster.certificate_authority,
        "clusterOidcIssuer": cluster.oidc_issuer,
        "clusterServiceIpv4Cidr": cluster.service_ipv4_cidr,
        "nodeSecurityGroupId": cluster.node_security_group.id,
        "servicesNamespace": SERVICES_NAMESPACE,
        "registryEndpoint": database.endpoint,
        "registrySecretArn": database.master_secret_arn,
        "onlineStoreEndpoint": online_store.primary_endpoint,
        "onlineStoreAuthSecretArn": online_store.auth_secret_arn,
        "emrApplicationId": batch.application_id,
        "emrJobRoleArn": batch.job_role.arn,
        "buckets": {
            "logs": buckets.logs.bucket.bucket,
            "offline": buckets.offline.bucket.bucket,
            "artifacts": buckets.artifacts.bucket.bucket,
            "decisionArchive": buckets.decisions.bucket.bucket,
        },
        "decisionStreamName": decision_log.stream_name,
        "alertTopicArn": alerts.topic.arn,
        "prometheusWorkspaceArn": platform.monitoring.workspace.arn if platform.monitoring else None,
        "prometheusEndpoint": platform.monitoring.workspace.prometheus_endpoint if platform.monitoring else None,
        "images": {
            "featureServer": config.images.feature_server,
            "modelServer": config.images.model_server,
            "jobs": config.images.jobs,
            "jobsRuntime": config.images.jobs_runtime,
        },
        "imageRepositories": {name: repo.repository_url for name, repo in platform.images.repositories.items()}
        if platform.images
        else {},
        "s3EndpointUrl": network.s3_endpoint_url,
        "clusterAutoscalerRoleArn": cluster.autoscaler_role.arn,
        "featureServerRoleArn": platform.feature_server_role.arn,
        "featureServerServiceAccount": FEATURE_SERVER_SERVICE_ACCOUNT,
        "modelRoleArns": {name: model.role_arn for name, model in platform.models.items()},
        "modelServiceAccounts": {name: model.service_account for name, model in platform.models.items()},
    }
