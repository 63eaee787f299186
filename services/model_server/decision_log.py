"""The decision log: every decision, refusal and error, durable before its response leaves.

Requests hand their record to :class:`DecisionLog` and wait; one writer thread takes
everything queued since its last write (group commit), makes it durable in the sink with
one write and one flush (the local segment files of :mod:`segmented_log`) or one Kinesis
``PutRecords``, then wakes every waiter of that batch. Under load a batch holds many
records, so durability costs one flush per batch, not one per decision.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from mlplat.errors import MlplatError
from services.log_limit import RateLimitedLog

log = logging.getLogger("mlplat.model_server.decision_log")
#: During an outage of the sink every batch fails: one line per kind per 10 s.
_failures = RateLimitedLog(log, interval_seconds=10.0)


class DecisionLogError(MlplatError):
    """A record could not be made durable; no decision is returned without its record."""

    http_status = 503
    public_message = "decision log unavailable"


@dataclass(frozen=True)
class LogEntry:
    """One serialized record and the key it is partitioned by (the decision id)."""

    key: str
    data: bytes


class DecisionSink(Protocol):
    """Where records go; :meth:`write_batch` returns once the batch is as durable as the sink promises."""

    def write_batch(self, entries: Sequence[LogEntry]) -> None: ...

    def close(self) -> None: ...


class Durability(StrEnum):
    """When the file sink lets a decision's response go."""

    #: After the batch's flush (``fdatasync``): the record survives a crash of the process,
    #: the kernel or the machine.
    FSYNC = "fsync"
    #: After ``write`` (the record is in the kernel's page cache); a flusher thread
    #: ``fdatasync``\ s right behind, without holding up later batches. Survives the
    #: process being killed, not a kernel crash or power loss.
    WRITE = "write"


class KinesisSink:
    """A Kinesis Data Stream: ``PutRecords`` per batch, retrying the records it rejects.

    Kinesis acknowledges a record once it is replicated across three availability zones,
    which is the durability the file's fsync gives on one disk.
    """

    # One PutRecords call takes at most 500 records and 5 MiB, partition keys included
    # (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html).
    MAX_RECORDS = 500
    MAX_REQUEST_BYTES = 5 * 1024 * 1024

    def __init__(self, client: Any, stream_name: str, attempts: int = 5, backoff_s: float = 0.05) -> None:
        self._client = client
        self._stream = stream_name
        self._attempts = attempts
        self._backoff_s = backoff_s

    def write_batch(self, entries: Sequence[LogEntry]) -> None:
        for call in self._calls(entries):
            self._put(call)

    @classmethod
    def _calls(cls, entries: Sequence[LogEntry]) -> Iterator[list[LogEntry]]:
        """``entries`` in order, cut into PutRecords calls within both limits."""
        call: list[LogEntry] = []
        size = 0
        for entry in entries:
            entry_bytes = len(entry.data) + len(entry.key.encode())
            if call and (len(call) == cls.MAX_RECORDS or size + entry_bytes > cls.MAX_REQUEST_BYTES):
                yield call
                call, size = [], 0
            call.append(entry)
            size += entry_bytes
        if call:
            yield call

    def _put(self, entries: list[LogEntry]) -> None:
        pending = entries
        for attempt in range(self._attempts):
            records = [{"Data": e.data, "PartitionKey": e.key} for e in pending]
            try:
                result = self._client.put_records(StreamName=self._stream, Records=records)
            except Exception as error:  # botocore's errors; a retry decides
                _failures.warning("put", "PutRecords to %s failed (attempt %d): %s", self._stream, attempt + 1, error)
            else:
                pending = [e for e, r in zip(pending, result["Records"], strict=True) if "ErrorCode" in r]
                if not pending:
                    return
            time.sleep(self._backoff_s * 2**attempt)
        raise DecisionLogError(f"{len(pending)} decision record(s) not accepted by Kinesis stream {self._stream}")

    def close(self) -> None:
        """Nothing to release: the client is shared."""


FlushHook = Callable[[int, float], None]
_Waiter = tuple[LogEntry, asyncio.AbstractEventLoop, "asyncio.Future[None]"]
_STOP = object()


class DecisionLog:
    """Group commit in front of a sink: ``await log.append(...)`` returns once it is durable."""

    def __init__(self, sink: DecisionSink, max_batch: int = 512, on_flush: FlushHook | None = None) -> None:
        self._sink = sink
        self._max_batch = max_batch
        self._on_flush = on_flush
        self._queue: queue.SimpleQueue[_Waiter | object] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="decision-log-writer", daemon=True)
        self._thread.start()

    def submit(self, key: str, data: bytes) -> asyncio.Future[None]:
        """Queue one record; the future completes when it is durable (or fails)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        if self._closed:
            future.set_exception(DecisionLogError("the decision log is closed (the server is shutting down)"))
        else:
            self._queue.put((LogEntry(key, data), loop, future))
        return future

    async def append(self, key: str, data: bytes) -> None:
        """Write one record and wait until it is durable."""
        await self.submit(key, data)

    def close(self) -> None:
        """Refuse new records, make every queued one durable, then close the sink."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
        self._sink.close()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch: list[_Waiter] = []
            item = self._queue.get()
            while True:
                if item is _STOP:
                    stopping = True
                else:
                    batch.append(item)  # type: ignore[arg-type]
                if stopping or len(batch) >= self._max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._flush(batch)

    def _flush(self, batch: list[_Waiter]) -> None:
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            self._sink.write_batch([entry for entry, _, _ in batch])
        except Exception as failure:  # any sink failure fails the batch's decisions, never the writer
            _failures.error("write", "decision log write of %d record(s) failed: %s", len(batch), failure)
            error = failure if isinstance(failure, DecisionLogError) else DecisionLogError(str(failure))
        if self._on_flush is not None:
            self._on_flush(len(batch), time.perf_counter() - started)
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for _, loop, future in batch:
            by_loop.setdefault(loop, []).append(future)
        for loop, futures in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, futures, error)
            except RuntimeError:  # the loop is gone (its server stopped); nobody waits any more
                continue


def _settle(futures: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
