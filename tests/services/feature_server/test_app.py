"""The feature server's endpoints, in-process, on the real Redis and on SQLite."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mlplat.errors import StoreUnavailableError
from mlplat.online_store import FeatureValue, OnlineStore, ReadRequest, ReadResult, Row, ViewStatus
from services.feature_server import create_app
from services.feature_server.app import feature_in_flight_limit
from tests.servers import running
from tests.services.admission_checks import assert_late_loop_sheds_then_recovers, assert_shed_then_recovered
from tests.services.feature_server.asgi_client import AppClient
from tests.services.feature_server.conftest import CATALOG, settings_for

NOW = datetime.now(UTC).replace(microsecond=0)
EVENT = NOW - timedelta(minutes=5)
EVENT_TEXT = EVENT.strftime("%Y-%m-%dT%H:%M:%SZ")


def _seed(store: OnlineStore) -> None:
    store.write("typed", [Row(("a1",), EVENT, {"count64": 11, "label": "x", "blob": b"\x00\x01"})])
    store.write("typed", [Row(("a2",), NOW - timedelta(hours=1, minutes=5), {"count64": 22})])  # stale
    store.write("merchant_stats", [Row((7,), EVENT, {"orders_7d": 70})])


def test_features_come_back_in_feasts_column_major_shape(client: AppClient, store: OnlineStore) -> None:
    _seed(store)

    got = client.post(
        "/get-online-features",
        json={"features": ["typed:count64", "typed:label"], "entities": {"applicant_id": ["a1", "a2", "a3"]}},
    )

    assert got.status_code == 200
    assert got.json() == {
        "metadata": {"feature_names": ["applicant_id", "count64", "label"]},
        "results": [
            {
                "values": ["a1", "a2", "a3"],
                "statuses": ["PRESENT"] * 3,
                "event_timestamps": ["1970-01-01T00:00:00Z"] * 3,
            },
            {
                "values": [11, 22, None],
                "statuses": ["PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND"],
                "event_timestamps": [
                    EVENT_TEXT,
                    (NOW - timedelta(hours=1, minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "1970-01-01T00:00:00Z",
                ],
            },
            {
                "values": ["x", None, None],
                "statuses": ["PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND"],
                "event_timestamps": got.json()["results"][1]["event_timestamps"],
            },
        ],
    }


def test_a_feature_service_spans_views_and_entities(client: AppClient, store: OnlineStore) -> None:
    _seed(store)

    got = client.post(
        "/get-online-features",
        json={"feature_service": "checkout", "entities": {"applicant_id": ["a1"], "merchant_id": [7]}},
    ).json()

    assert got["metadata"]["feature_names"] == ["applicant_id", "merchant_id", "count64", "orders_7d"]
    assert [r["values"] for r in got["results"]] == [["a1"], [7], [11], [70]]


def test_full_feature_names_and_json_forms_of_bytes_and_times(client: AppClient, store: OnlineStore) -> None:
    store.write("typed", [Row(("a1",), EVENT, {"blob": b"\x00\xff", "seen_at": EVENT, "ratio32": 0.5})])

    got = client.post(
        "/get-online-features",
        json={
            "features": ["typed:blob", "typed:seen_at", "typed:ratio32"],
            "entities": {"applicant_id": ["a1"]},
            "full_feature_names": True,
        },
    ).json()

    assert got["metadata"]["feature_names"] == ["applicant_id", "typed__blob", "typed__seen_at", "typed__ratio32"]
    assert [r["values"][0] for r in got["results"][1:]] == [base64.b64encode(b"\x00\xff").decode(), EVENT_TEXT, 0.5]


def test_served_values_are_counted_per_view_and_status(client: AppClient, store: OnlineStore) -> None:
    _seed(store)
    client.post(
        "/get-online-features",
        json={"features": ["typed:count64", "typed:flag"], "entities": {"applicant_id": ["a1", "a2", "zz"]}},
    )

    metrics = client.get("/metrics").text

    assert 'mlplat_feature_server_values_total{status="PRESENT",view="typed"} 2.0' in metrics
    assert 'mlplat_feature_server_values_total{status="OUTSIDE_MAX_AGE",view="typed"} 2.0' in metrics
    assert 'mlplat_feature_server_values_total{status="NOT_FOUND",view="typed"} 2.0' in metrics
    assert 'mlplat_feature_server_request_seconds_count{endpoint="get-online-features"} 1.0' in metrics
    assert 'mlplat_online_store_call_seconds_count{operation="read"} 1.0' in metrics
    assert (
        'mlplat_feature_server_responses_total{caller="anonymous",endpoint="get-online-features",status="200"} 1.0'
        in metrics
    )


def test_view_freshness_and_runs_are_exported_from_the_store(client: AppClient, store: OnlineStore) -> None:
    _seed(store)
    store.record_run("typed", succeeded=False)

    metrics = client.get("/metrics").text

    newest = {
        sample.labels["view"]: sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "mlplat_feature_view_newest_event_timestamp_seconds"
    }
    assert newest == {"typed": EVENT.timestamp(), "merchant_stats": EVENT.timestamp()} | {
        view: 0.0 for view in newest if view not in {"typed", "merchant_stats"}
    }
    assert 'mlplat_materialization_runs_total{result="failed",view="typed"} 1.0' in metrics
    assert 'mlplat_materialization_runs_total{result="succeeded",view="typed"} 0.0' in metrics


def test_push_writes_every_view_of_a_push_source(client: AppClient, store: OnlineStore) -> None:
    got = client.post(
        "/push",
        json={
            "push_source_name": "live",
            "df": {
                "applicant_id": ["a1", "a2"],
                "event_timestamp": [EVENT_TEXT, "2026-01-01 00:00:00"],
                "applications_24h": [3, None],
            },
        },
    )

    assert got.status_code == 200
    assert got.json() == {"written": [{"view": "velocity", "rows": 2, "applied": 1}]}  # a2 is long expired
    [stored] = store.read([ReadRequest("velocity", ("a1",), ["applications_24h", "last_ip"])])
    assert (stored["applications_24h"].value, stored["last_ip"].value) == (3, None)


def test_push_by_view_converts_json_to_dtypes_and_stays_monotonic(client: AppClient, store: OnlineStore) -> None:
    frame = {
        "applicant_id": ["a1"],
        "event_timestamp": [EVENT.timestamp()],
        "blob": [base64.b64encode(b"\x01").decode()],
        "seen_at": ["2026-03-01T12:00:00+02:00"],
        "ratio32": [1],
    }
    assert client.post("/push", json={"view": "typed", "df": frame}).json()["written"][0]["applied"] == 1
    older = {**frame, "event_timestamp": [EVENT.timestamp() - 1], "ratio32": [2]}
    assert client.post("/push", json={"view": "typed", "df": older}).json()["written"][0]["applied"] == 0

    [stored] = store.read([ReadRequest("typed", ("a1",), ["blob", "seen_at", "ratio32"])])

    assert [v.value for v in stored.values()] == [b"\x01", datetime(2026, 3, 1, 10, tzinfo=UTC), 1.0]


BAD_READS = [
    (b"{not json", 400, "body", "is not valid JSON"),
    (b"[]", 422, "body", "must be an object; got a list"),
    (b'{"entities": {"applicant_id": ["a"]}}', 422, "features", "either 'features'"),
    (
        b'{"features": "typed:count64", "entities": {"applicant_id": ["a"]}}',
        422,
        "features",
        "must be a list; got a string",
    ),
    (b'{"features": ["count64"], "entities": {"applicant_id": ["a"]}}', 422, "features[0]", "write 'view:feature'"),
    (
        b'{"features": ["typed:count64"], "entities": {"applicant_id": ["a", 1]}}',
        422,
        "entities.applicant_id[1]",
        "must be a string; got an integer",
    ),
    (
        b'{"features": ["typed:count64"], "entities": {"applicant_id": "a"}}',
        422,
        "entities.applicant_id",
        "must be a list; got a string",
    ),
    (
        b'{"features": ["merchant_stats:orders_7d"], "entities": {"applicant_id": ["a"]}}',
        422,
        "entities.applicant_id",
        "not a join key",
    ),
    (
        b'{"features": ["pair_stats:purchases"], "entities": {"applicant_id": ["a"], "merchant_id": [1, 2]}}',
        422,
        "entities.merchant_id",
        "same count",
    ),
    (
        b'{"features": ["typed:count64"], "entities": {"applicant_id": ["a"]}, "full_feature_names": "yes"}',
        422,
        "full_feature_names",
        "true or false",
    ),
    (b'{"features": ["typed:count64"], "entities": {"applicant_id": ["a"]}, "extra": 1}', 422, "extra", "not a field"),
    (
        b'{"features": ["typed:count64", "velocity:applications_24h", "typed:count64"], "entities": {"applicant_id": ["a"]}}',
        422,
        "features[2]",
        "both be returned",
    ),
    (
        b'{"features": ["typo:count64"], "entities": {"applicant_id": ["a"]}}',
        404,
        None,
        "'typo' does not exist; online views: 'merchant_stats', 'pair_stats', 'typed'",
    ),
    (
        b'{"features": ["typed:count"], "entities": {"applicant_id": ["a"]}}',
        404,
        None,
        "typed has 'amount', 'blob', 'count32'",
    ),
    (b'{"features": ["offline_only:score"], "entities": {"applicant_id": ["a"]}}', 404, None, "is not online"),
    (b'{"feature_service": "nope", "entities": {"applicant_id": ["a"]}}', 404, None, "defined: 'checkout'"),
]


@pytest.mark.parametrize(("body", "status", "field", "message"), BAD_READS)
def test_bad_reads_are_answered_with_the_field_and_the_fix(
    client: AppClient, body: bytes, status: int, field: str | None, message: str
) -> None:
    got = client.post("/get-online-features", content=body)

    assert got.status_code == status, got.text
    error = got.json()
    assert error.get("field") == field
    assert message in error["error"]


BAD_PUSHES = [
    ({"df": {"applicant_id": ["a"]}}, 422, "push_source_name"),
    ({"view": "typed", "df": {}}, 422, "df"),
    (
        {"view": "typed", "df": {"applicant_id": ["a"], "event_timestamp": [1], "count32": [2**40]}},
        422,
        "df.count32[0]",
    ),
    ({"view": "typed", "df": {"applicant_id": ["a"], "event_timestamp": [1], "flag": ["yes"]}}, 422, "df.flag[0]"),
    ({"view": "typed", "df": {"applicant_id": ["a"], "event_timestamp": [1], "blob": ["%%"]}}, 422, "df.blob[0]"),
    ({"view": "typed", "df": {"applicant_id": ["a"], "count32": [1]}}, 422, "df.event_timestamp"),
    ({"view": "typed", "df": {"applicant_id": ["a"], "event_timestamp": ["yesterday"]}}, 422, "df.event_timestamp[0]"),
    ({"view": "typed", "df": {"applicant_id": ["a"], "event_timestamp": [1], "cnt": [1]}}, 422, "df.cnt"),
    ({"view": "typed", "df": {"event_timestamp": [1], "count32": [1]}}, 422, "df.applicant_id"),
    ({"view": "typed", "df": {"applicant_id": ["a", "b"], "event_timestamp": [1]}}, 422, "df.event_timestamp"),
    ({"view": "typed", "to": "offline", "df": {"applicant_id": ["a"]}}, 422, "to"),
    ({"view": "nope", "df": {"applicant_id": ["a"]}}, 404, None),
    ({"push_source_name": "events", "df": {"applicant_id": ["a"]}}, 404, None),
    ({"view": "typed", "df": {"applicant_id": ["a"] * 51, "event_timestamp": [1] * 51}}, 413, None),
    ({"view": "typed", "df": {"applicant_id": ["a"], "event_timestamp": [1], "ratio32": [1e39]}}, 422, "df.ratio32[0]"),
    (
        {"view": "typed", "df": {"applicant_id": ["a"], "event_timestamp": [1], "count64": [2**64]}},
        422,
        "df.count64[0]",
    ),
    ({"view": "typed", "df": {"applicant_id": ["a"], "event_timestamp": [1e300]}}, 422, "df.event_timestamp[0]"),
    ({"view": "typed", "df": {"applicant_id": [""], "event_timestamp": [1]}}, 422, "df.applicant_id[0]"),
    ({"view": "typed", "df": {"applicant_id": ["a"], "event_timestamp": [1], "label": [{"x": 1}]}}, 422, "df.label[0]"),
    ({"view": "typed", "df": {"applicant_id": ["a"], "event_timestamp": [1]}, "pad": "x" * 9999}, 422, "pad"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD_PUSHES)
def test_bad_pushes_are_refused_before_writing(
    client: AppClient, store: OnlineStore, body: dict[str, object], status: int, field: str | None
) -> None:
    got = client.post("/push", json=body)

    assert got.status_code == status, got.text
    assert got.json().get("field") == field
    assert store.read([ReadRequest("typed", ("a",), ["count32"])])[0]["count32"].value is None


@pytest.mark.parametrize(
    "event_time",
    ["2030-01-01T00:00:00Z", timedelta(minutes=10), 1893456000],
    ids=["2030", "ten minutes ahead", "2030 in epoch seconds"],
)
def test_a_push_dated_past_the_clock_is_refused_so_it_cannot_block_later_writes(
    client: AppClient, store: OnlineStore, event_time: object
) -> None:
    if isinstance(event_time, timedelta):  # ahead of the clock when the test runs, not when it was collected
        event_time = (datetime.now(UTC) + event_time).isoformat()
    future = client.post(
        "/push", json={"view": "typed", "df": {"applicant_id": ["a"], "event_timestamp": [event_time], "count32": [9]}}
    )

    assert future.status_code == 422
    assert future.json()["field"] == "df.event_timestamp[0]"
    assert "later than the server's clock allows" in future.json()["error"]
    now = datetime.now(UTC).isoformat()
    honest = client.post(
        "/push", json={"view": "typed", "df": {"applicant_id": ["a"], "event_timestamp": [now], "count32": [1]}}
    )
    assert honest.json() == {"written": [{"view": "typed", "rows": 1, "applied": 1}]}


def test_a_push_within_the_allowed_skew_is_written(client: AppClient) -> None:
    soon = (datetime.now(UTC) + timedelta(minutes=4)).isoformat()
    pushed = client.post("/push", json={"view": "typed", "df": {"applicant_id": ["a"], "event_timestamp": [soon]}})
    assert pushed.status_code == 200, pushed.text


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        (
            b'{"features": ["typed:flag"], "features": ["typed:label"], "entities": {"applicant_id": ["a"]}}',
            "features",
            "appears twice",
        ),
        (
            b'{"features": ["typed:flag"], "entities": {"applicant_id": ["a"], "applicant_id": ["b"]}}',
            "applicant_id",
            "appears twice",
        ),
        (
            b'{"features": ["typed:flag"], "entities": {"merchant_id": [123456789012345678901234567890]}}',
            "entities.merchant_id[0]",
            "must be an integer <= 9223372036854775807",
        ),
        (
            b'{"features": ["merchant_stats:orders_7d"], "entities": {"merchant_id": [1.5]}}',
            "entities.merchant_id[0]",
            "must be an integer; got a number",
        ),
        (
            b'{"features": ["typed:flag"], "entities": {"applicant_id": [' + b"[" * 5000 + b"]" * 5000 + b"]}}",
            "entities.applicant_id[0]",
            "must be a string",
        ),
    ],
    ids=["duplicate top-level key", "duplicate join key", "huge integer", "float key", "deep nesting"],
)
def test_json_edge_cases_are_4xx_naming_the_field(client: AppClient, body: bytes, field: str, problem: str) -> None:
    got = client.post("/get-online-features", content=body)
    assert got.status_code == 422, got.text
    assert got.json()["field"] == field
    assert problem in got.json()["error"]


def test_the_document_is_served(client: AppClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["info"]["title"] == "mlplat feature server"
    assert set(document["paths"]) == {"/get-online-features", "/push", "/health/live", "/health/ready", "/metrics"}
    push = document["components"]["schemas"]["PushRequest"]
    assert push["additionalProperties"] is False
    assert document["components"]["schemas"]["PushColumns"]["additionalProperties"] is False


def test_batches_over_the_limits_are_413(client: AppClient) -> None:
    many = client.post(
        "/get-online-features", json={"features": ["typed:flag"], "entities": {"applicant_id": ["a"] * 101}}
    )
    huge = client.post("/get-online-features", content=b" " * (65 * 1024))

    assert (many.status_code, huge.status_code) == (413, 413)
    assert "at most 100" in many.json()["error"]


def test_health(client: AppClient) -> None:
    assert client.get("/health/live").json() == {"live": True}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "catalog": CATALOG.digest[:12]}


class BrokenStore:
    """A store failing the way a backend does (unavailable) or the way a bug does."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def write(self, view: str, rows: Sequence[Row]) -> int:
        raise self.error

    def read(self, requests: Sequence[ReadRequest]) -> list[dict[str, FeatureValue]]:
        raise self.error

    def read_bulk(self, requests: Sequence[ReadRequest]) -> list[ReadResult]:
        raise self.error

    def ping(self) -> None:
        raise self.error

    def record_run(self, view: str, succeeded: bool) -> None:
        raise self.error

    def view_status(self) -> dict[str, ViewStatus]:
        raise self.error

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (StoreUnavailableError("online store redis://10.0.0.1:6379 failed: secret detail"), 503, "store unavailable"),
        (RuntimeError("secret detail"), 500, "internal error"),
    ],
)
def test_failures_never_show_their_internals(error: Exception, status: int, message: str) -> None:
    client = AppClient(create_app(settings_for("sqlite:///unused.db", "t"), catalog=CATALOG, store=BrokenStore(error)))
    answers = [
        client.post("/get-online-features", json={"features": ["typed:flag"], "entities": {"applicant_id": ["a"]}}),
        client.post("/push", json={"view": "typed", "df": {"applicant_id": ["a"], "event_timestamp": [1]}}),
        client.get("/health/ready"),
    ]
    client.close()

    for answer in answers:
        assert answer.status_code == status
        assert answer.json() == {"error": message}
        assert "secret" not in answer.text


def test_unknown_paths_and_methods_answer_json(client: AppClient) -> None:
    missing = client.get("/get-features")
    wrong = client.get("/push")

    assert missing.status_code == 404
    assert "POST /get-online-features" in missing.json()["error"]
    assert (wrong.status_code, wrong.json()["error"]) == (405, "Method Not Allowed")
    assert wrong.headers["allow"] == "POST"


def test_past_the_in_flight_cap_reads_are_shed_fast_and_probes_still_answer(
    store_url: str, namespace: str, store: OnlineStore
) -> None:
    app = create_app(settings_for(store_url, namespace, max_in_flight=2), catalog=CATALOG)
    with running(app) as base, httpx.Client(base_url=base) as client:
        assert_shed_then_recovered(
            client,
            base,
            "/get-online-features",
            {"features": ["typed:count64"], "entities": {"applicant_id": ["a1"]}},
            2,
            ("/health/live", "/health/ready"),
            "mlplat_feature_server_shed_requests_total",
        )


def test_the_default_cap_comes_from_the_read_objective(store_url: str, namespace: str) -> None:
    assert feature_in_flight_limit(settings_for(store_url, namespace)) == 20
    assert feature_in_flight_limit(settings_for(store_url, namespace, max_in_flight=64)) == 64


def test_reads_arriving_while_the_loop_runs_late_are_shed(store_url: str, namespace: str, store: OnlineStore) -> None:
    app = create_app(settings_for(store_url, namespace, max_queue_ms=5), catalog=CATALOG)
    body = b'{"features": ["typed:count64"], "entities": {"applicant_id": ["a1"]}}'
    with running(app) as base, httpx.Client(base_url=base) as client:
        assert_late_loop_sheds_then_recovers(
            client, base, "/get-online-features", body, "mlplat_feature_server_shed_requests_total"
        )
