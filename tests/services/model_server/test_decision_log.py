"""Group commit: records are durable when append returns, batched under load, failures surface."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from moto import mock_aws

from services.model_server.decision_log import (
    DecisionLog,
    DecisionLogError,
    KinesisSink,
    LogEntry,
)
from services.model_server.segmented_log import SegmentedFileSink


class SlowSink:
    """A sink that counts batches and takes a while per write, like an fsync."""

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[bytes]] = []
        self.fail = fail
        self.closed = False
        self._lock = threading.Lock()

    def write_batch(self, entries: Sequence[LogEntry]) -> None:
        threading.Event().wait(0.005)
        if self.fail:
            raise OSError("disk full")
        with self._lock:
            self.batches.append([e.data for e in entries])

    def close(self) -> None:
        self.closed = True


def test_concurrent_appends_share_batches_and_all_complete() -> None:
    sink = SlowSink()
    flushes: list[int] = []
    log = DecisionLog(sink, on_flush=lambda records, seconds: flushes.append(records))

    async def main() -> None:
        await asyncio.gather(*(log.append(str(i), str(i).encode()) for i in range(300)))

    asyncio.run(main())
    log.close()
    written = [record for batch in sink.batches for record in batch]
    assert sorted(written) == sorted(str(i).encode() for i in range(300))
    assert len(sink.batches) < 100  # one write per batch, not per record
    assert sum(flushes) == 300
    assert sink.closed


def test_a_failed_write_fails_every_waiter_of_its_batch() -> None:
    log = DecisionLog(SlowSink(fail=True))

    async def main() -> list[BaseException | None]:
        return await asyncio.gather(*(log.append(str(i), b"x") for i in range(5)), return_exceptions=True)

    results = asyncio.run(main())
    log.close()
    assert all(isinstance(r, DecisionLogError) for r in results)
    assert str(results[0]) == "disk full"


def test_close_flushes_what_is_queued_and_refuses_more(tmp_path: Path) -> None:
    sink = SlowSink()
    log = DecisionLog(sink)

    async def main() -> None:
        pending = [log.submit(str(i), b"r") for i in range(50)]
        await asyncio.to_thread(log.close)
        await asyncio.gather(*pending)
        with pytest.raises(DecisionLogError, match="closed"):
            await log.append("late", b"r")

    asyncio.run(main())
    assert sum(len(b) for b in sink.batches) == 50


@pytest.fixture
def kinesis(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        client = boto3.client("kinesis", region_name="eu-west-1")
        client.create_stream(StreamName="decisions", ShardCount=2)
        yield client


def test_kinesis_sink_puts_every_record_of_a_batch(kinesis: object) -> None:
    client = boto3.client("kinesis", region_name="eu-west-1")
    log = DecisionLog(KinesisSink(client, "decisions"))

    async def main() -> None:
        await asyncio.gather(*(log.append(f"id-{i}", orjson.dumps({"id": i})) for i in range(620)))

    asyncio.run(main())
    log.close()
    found = []
    for shard in client.list_shards(StreamName="decisions")["Shards"]:
        iterator = client.get_shard_iterator(
            StreamName="decisions", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        found += [
            orjson.loads(r["Data"])["id"] for r in client.get_records(ShardIterator=iterator, Limit=10000)["Records"]
        ]
    assert sorted(found) == list(range(620))


def test_kinesis_sink_keeps_each_call_within_the_put_records_limits(kinesis: object) -> None:
    # 500 records or 5 MiB per call, partition keys included: 12 records of 1 MB make three calls.
    client = boto3.client("kinesis", region_name="eu-west-1")
    calls: list[list[dict[str, Any]]] = []
    put_records = client.put_records

    def counting(**kwargs: Any) -> Any:
        calls.append(kwargs["Records"])
        return put_records(**kwargs)

    client.put_records = counting  # type: ignore[method-assign]
    big = [LogEntry(f"big-{i:03d}", bytes([i]) * 1_000_000) for i in range(12)]
    small = [LogEntry(f"small-{i:04d}", b"{}") for i in range(1200)]
    KinesisSink(client, "decisions").write_batch([*big, *small])
    sizes = [sum(len(r["Data"]) + len(r["PartitionKey"]) for r in call) for call in calls]
    assert [len(call) for call in calls] == [5, 5, 500, 500, 202]
    assert max(sizes) <= 5 * 1024 * 1024
    assert [r["PartitionKey"] for call in calls for r in call] == [e.key for e in [*big, *small]]


def test_kinesis_sink_retries_rejected_records_then_fails_loudly() -> None:
    class Throttled:
        def __init__(self, rejections: int) -> None:
            self.rejections = rejections
            self.calls: list[int] = []

        def put_records(self, StreamName: str, Records: list[dict[str, object]]) -> dict[str, object]:  # noqa: N803
            self.calls.append(len(Records))
            rejected = min(self.rejections, len(Records))
            self.rejections -= rejected
            results = [{"ErrorCode": "ProvisionedThroughputExceededException"}] * rejected
            return {"Records": results + [{"SequenceNumber": "1"}] * (len(Records) - rejected)}

    flaky = Throttled(rejections=3)
    KinesisSink(flaky, "decisions", backoff_s=0).write_batch([LogEntry(str(i), b"x") for i in range(10)])
    assert flaky.calls == [10, 3]

    hopeless = Throttled(rejections=10**6)
    with pytest.raises(DecisionLogError, match="10 decision record"):
        KinesisSink(hopeless, "decisions", attempts=3, backoff_s=0).write_batch(
            [LogEntry(str(i), b"x") for i in range(10)]
        )
    assert hopeless.calls == [10, 10, 10]


def test_settings_choose_the_kinesis_sink_for_a_kinesis_url(kinesis: object, tmp_path: Path) -> None:
    from services.model_server.app import decision_sink
    from services.model_server.settings import Settings

    file_sink = decision_sink(Settings(decision_log=str(tmp_path / "decisions"), decision_log_segment_bytes=1 << 16))
    assert isinstance(file_sink, SegmentedFileSink)
    file_sink.close()
    sink = decision_sink(Settings(decision_log="kinesis://decisions", aws_region="eu-west-1"))
    assert isinstance(sink, KinesisSink)
    sink.write_batch([LogEntry("d-1", b'{"id": "d-1"}')])
    client = boto3.client("kinesis", region_name="eu-west-1")
    records = []
    for shard in client.list_shards(StreamName="decisions")["Shards"]:
        iterator = client.get_shard_iterator(
            StreamName="decisions", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records += client.get_records(ShardIterator=iterator)["Records"]
    assert [(r["PartitionKey"], r["Data"]) for r in records] == [("d-1", b'{"id": "d-1"}')]
