"""The model server's histogram holds a bucket at each served model's latency objective."""

from __future__ import annotations

from prometheus_client import generate_latest

from services.model_server.metrics import LATENCY_BUCKETS, Metrics, latency_buckets


def test_latency_objectives_become_buckets_without_duplicates() -> None:
    assert latency_buckets((0.03, 0.05)) == tuple(sorted({*LATENCY_BUCKETS, 0.03}))
    assert latency_buckets() == LATENCY_BUCKETS


def test_the_objective_bucket_is_exposed_per_route_and_model() -> None:
    metrics = Metrics(slo_seconds=[0.03])
    metrics.observe_request("decision", "fraud", "v2", "approve", 200, 0.02, "checkout_api")

    text = generate_latest(metrics.registry).decode()

    assert 'mlplat_model_request_seconds_bucket{le="0.03",model="fraud",route="decision"} 1.0' in text
    assert (
        'mlplat_model_requests_total{caller="checkout_api",model="fraud",outcome="approve",route="decision",status="200",version="v2"} 1.0'
        in text
    )
