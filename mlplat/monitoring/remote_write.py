"""A report's alerting gauges, pushed to Prometheus with remote write: how the monitoring job in AWS
reaches Amazon Managed Service for Prometheus, where the alert rules run.

The gauges are exactly the ones ``mlplat monitor --metrics-file`` writes: this module
parses :func:`mlplat.monitoring.report_data.to_prometheus` and sends each sample, stamped
with the time of the run, as one Prometheus remote-write 1.0 request:

* a ``WriteRequest`` protocol buffer (``prompb/remote.proto``: ``TimeSeries`` of sorted
  ``Label``\\ s and one ``Sample``), encoded here field by field, no generated code;
* compressed in the Snappy block format (``Content-Encoding: snappy``). The encoder
  writes the block as literal elements only, which the format allows and every decoder
  reads (https://github.com/google/snappy/blob/main/format_description.txt): a report is a
  few kilobytes, so compression buys nothing worth a dependency;
* ``POST``\\ ed to ``<workspace endpoint>api/v1/remote_write`` with the headers AMP's
  RemoteWrite documents, signed with SigV4 for the ``aps`` service when credentials are
  given (https://docs.aws.amazon.com/prometheus/latest/userguide/AMP-APIReference-RemoteWrite.html).
  The job role may call ``aps:RemoteWrite`` on its workspace only.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from mlplat.errors import MlplatError

HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": "mlplat-monitor",
}
#: The path below a workspace's ``prometheusEndpoint`` (which ends in ``/``).
REMOTE_WRITE_PATH = "api/v1/remote_write"


class RemoteWriteError(MlplatError):
    """The receiver refused the samples."""

    exit_code = 1


@dataclass(frozen=True)
class Series:
    labels: tuple[tuple[str, str], ...]
    """Sorted by name, ``__name__`` among them."""
    value: float


def series_of(exposition: bytes) -> list[Series]:
    """The samples of a Prometheus text exposition, as remote-write series."""
    found = []
    for family in text_string_to_metric_families(exposition.decode()):
        for sample in family.samples:
            labels = tuple(sorted({"__name__": sample.name, **sample.labels}.items()))
            found.append(Series(labels, float(sample.value)))
    return found


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def write_request(series: Iterable[Series], timestamp_ms: int) -> bytes:
    """The ``WriteRequest`` protocol buffer of ``series``, each with one sample at ``timestamp_ms``."""
    out = bytearray()
    for one in series:
        labels = b"".join(_field(1, _field(1, name.encode()) + _field(2, value.encode())) for name, value in one.labels)
        # Sample: value (1, fixed64 double), timestamp (2, varint int64)
        sample = _varint(1 << 3 | 1) + struct.pack("<d", one.value) + _varint(2 << 3 | 0) + _varint(timestamp_ms)
        out += _field(1, labels + _field(2, sample))
    return bytes(out)


def snappy_block(data: bytes) -> bytes:
    """``data`` in the Snappy block format: the length, then literal elements of at most 64 KiB."""
    out = bytearray(_varint(len(data)))
    for start in range(0, len(data), 65536):
        chunk = data[start : start + 65536]
        n = len(chunk) - 1
        if n < 60:
            out.append(n << 2)
        else:
            size = (n.bit_length() + 7) // 8
            out.append((59 + size) << 2)
            out += n.to_bytes(size, "little")
        out += chunk
    return bytes(out)


def _signed_headers(url: str, body: bytes, region: str, credentials: Any) -> dict[str, str]:
    from botocore.auth import SigV4Auth  # noqa: PLC0415 - only AWS runs sign
    from botocore.awsrequest import AWSRequest  # noqa: PLC0415

    request = AWSRequest(method="POST", url=url, data=body, headers=dict(HEADERS))
    SigV4Auth(credentials, "aps", region).add_auth(request)
    return dict(request.headers.items())


def push(
    url: str,
    series: Sequence[Series],
    *,
    region: str | None = None,
    credentials: Any = None,
    timestamp_ms: int | None = None,
    timeout_s: float = 30.0,
) -> int:
    """Send ``series`` to the remote-write ``url`` (signed for ``aps`` in ``region`` with ``credentials``); how many."""
    body = snappy_block(write_request(series, timestamp_ms or int(time.time() * 1000)))
    headers = dict(HEADERS)
    if credentials is not None:
        if region is None:
            raise ValueError("signing a remote write needs the workspace's region")
        headers = _signed_headers(url, body, region, credentials)
    response = httpx.post(url, content=body, headers=headers, timeout=timeout_s)
    if response.status_code // 100 != 2:
        raise RemoteWriteError(f"remote write to {url} answered {response.status_code}: {response.text[:300]}")
    return len(series)
