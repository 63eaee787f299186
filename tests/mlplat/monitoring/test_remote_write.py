"""A report's gauges reach a real Prometheus over remote write (snappy protobuf, SigV4-signed) and
are queried back with the names and labels ``--metrics-file`` writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from botocore.credentials import Credentials

from mlplat.catalog import Catalog
from mlplat.monitoring.monitor import MonitorOptions, monitor
from mlplat.monitoring.remote_write import (
    RemoteWriteError,
    Series,
    _signed_headers,
    push,
    series_of,
    snappy_block,
    write_request,
)
from mlplat.monitoring.report_data import to_prometheus
from mlplat.monitoring.synthetic_decisions import Shift, SimulationConfig, simulate

REPO_MODELS = Path(__file__).resolve().parents[3] / "models"
START = datetime(2026, 3, 2, tzinfo=UTC)


def _query(url: str, promql: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=5).json()["data"]["result"]
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in found}


def test_the_reports_gauges_are_queried_back_from_prometheus(
    catalog: Catalog, default_data: Path, tmp_path: Path, prometheus: str
) -> None:
    shift = Shift("bureau_profile:fico_score", START + timedelta(days=7), offset=-60)
    simulate(
        catalog,
        "default_risk",
        default_data,
        REPO_MODELS,
        tmp_path / "log",
        tmp_path / "outcomes",
        SimulationConfig(start=START, days=14, per_day=100, shadow="v1", shifts=(shift,)),
    )
    options = MonitorOptions(tmp_path / "log", REPO_MODELS, tmp_path / "outcomes", START + timedelta(days=14))
    report = monitor(catalog, "default_risk", options)
    series = series_of(to_prometheus(report))
    signer = Credentials("AKIDEXAMPLE", "secret-example")  # a receiver without auth ignores the signature
    assert push(f"{prometheus}/api/v1/write", series, region="eu-west-1", credentials=signer) == len(series)
    psi = _query(prometheus, 'mlplat_model_input_psi{against="reference"}')
    key = (("__name__", "mlplat_model_input_psi"), ("against", "reference"), ("input", shift.ref))
    assert psi[(*key[:2], key[2], ("model", "default_risk"))] == pytest.approx(
        {d.name: d.psi_reference for d in report.inputs}[shift.ref], rel=1e-12
    )
    assert len(psi) == len(report.inputs)
    rates = _query(prometheus, "mlplat_model_approval_rate")
    assert {dict(k)["role"]: v for k, v in rates.items()} == {
        r.role: pytest.approx(r.approval_rate, rel=1e-12) for r in report.rates
    }
    as_of = _query(prometheus, "mlplat_model_monitoring_as_of_seconds")
    assert list(as_of.values()) == [report.as_of.timestamp()]
    # Every gauge --metrics-file writes arrived, with its labels.
    names = {dict(s.labels)["__name__"] for s in series}
    stored = _query(prometheus, '{__name__=~"mlplat_model_.*"}')
    assert {dict(k)["__name__"] for k in stored} == names
    assert len(stored) == len(series)


def test_a_refused_write_is_an_error_naming_the_answer(prometheus: str) -> None:
    with pytest.raises(RemoteWriteError, match="/api/v1/remote_write answered 404"):
        push(f"{prometheus}/api/v1/remote_write", [Series((("__name__", "x"),), 1.0)])


def test_the_request_is_signed_for_the_aps_service() -> None:
    headers = _signed_headers(
        "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write",
        b"body",
        "eu-west-1",
        Credentials("AKIDEXAMPLE", "secret-example"),
    )
    assert "/eu-west-1/aps/aws4_request" in headers["Authorization"]
    assert headers["Content-Encoding"] == "snappy"
    assert "x-amz-date" in {k.lower() for k in headers}


@pytest.mark.parametrize("size", [0, 1, 59, 60, 61, 300, 70_000, 200_000])
def test_snappy_literal_blocks_decode(size: int) -> None:
    data = bytes((i * 7) % 251 for i in range(size))
    encoded = snappy_block(data)
    # Decoded by the format's rules: varint length, then literal elements.
    length, shift, pos = 0, 0, 0
    while True:
        byte = encoded[pos]
        pos += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    out = bytearray()
    while pos < len(encoded):
        tag = encoded[pos]
        pos += 1
        assert tag & 0b11 == 0
        n = tag >> 2
        if n >= 60:
            width = n - 59
            n = int.from_bytes(encoded[pos : pos + width], "little")
            pos += width
        out += encoded[pos : pos + n + 1]
        pos += n + 1
    assert length == size
    assert bytes(out) == data


def test_a_write_request_is_the_protobuf_prometheus_defines() -> None:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    # prompb/types.proto and remote.proto, the fields remote write 1.0 uses.
    file = descriptor_pb2.FileDescriptorProto(name="remote.proto", package="prometheus", syntax="proto3")
    label = file.message_type.add(name="Label")
    label.field.add(name="name", number=1, type=9, label=1)
    label.field.add(name="value", number=2, type=9, label=1)
    sample = file.message_type.add(name="Sample")
    sample.field.add(name="value", number=1, type=1, label=1)
    sample.field.add(name="timestamp", number=2, type=3, label=1)
    ts = file.message_type.add(name="TimeSeries")
    ts.field.add(name="labels", number=1, type=11, label=3, type_name=".prometheus.Label")
    ts.field.add(name="samples", number=2, type=11, label=3, type_name=".prometheus.Sample")
    request = file.message_type.add(name="WriteRequest")
    request.field.add(name="timeseries", number=1, type=11, label=3, type_name=".prometheus.TimeSeries")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus.WriteRequest"))
    series = [Series((("__name__", "m"), ("input", "a:b")), 0.25), Series((("__name__", "n"),), -1.5)]
    decoded = cls.FromString(write_request(series, 1_700_000_000_123))
    assert [[(lb.name, lb.value) for lb in t.labels] for t in decoded.timeseries] == [list(s.labels) for s in series]
    assert [(t.samples[0].value, t.samples[0].timestamp) for t in decoded.timeseries] == [
        (0.25, 1_700_000_000_123),
        (-1.5, 1_700_000_000_123),
    ]
