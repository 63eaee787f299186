"""The local decision log: preallocated segments, cut back when full or closed, read back whole."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from mlplat.decision_log import read_decision_log, segment_path, segments
from services.model_server import segmented_log
from services.model_server.decision_log import DecisionLog, DecisionLogError, Durability, LogEntry
from services.model_server.segmented_log import MIN_SEGMENT_BYTES, SegmentedFileSink

REPO = Path(__file__).resolve().parents[3]


def record(i: int, size: int = 200) -> LogEntry:
    return LogEntry(f"d-{i}", orjson.dumps({"id": f"d-{i}", "pad": "x" * size}))


def ids(directory: Path) -> list[str]:
    return [r["id"] for r in read_decision_log(directory)]


def test_a_record_is_on_disk_when_append_returns_and_the_segment_is_preallocated(tmp_path: Path) -> None:
    log = DecisionLog(SegmentedFileSink(tmp_path / "log", segment_bytes=MIN_SEGMENT_BYTES))

    async def main() -> None:
        await log.append("d-1", b'{"id":"d-1"}')
        (number, path), *_ = segments(tmp_path / "log")
        data = path.read_bytes()
        # Written over zeros laid down in advance: the file does not grow with the record.
        assert (number, len(data)) == (1, MIN_SEGMENT_BYTES)
        assert data.startswith(b'{"id":"d-1"}\n\0')
        assert ids(tmp_path / "log") == ["d-1"]

    asyncio.run(main())
    log.close()
    assert segment_path(tmp_path / "log", 1).read_bytes() == b'{"id":"d-1"}\n'  # cut back on close
    assert [n for n, _ in segments(tmp_path / "log")] == [1]  # the unused spare is gone


def test_records_fill_segment_after_segment_in_order_and_full_ones_are_cut_back(tmp_path: Path) -> None:
    sink = SegmentedFileSink(tmp_path, segment_bytes=MIN_SEGMENT_BYTES)
    for start in range(0, 1500, 50):
        sink.write_batch([record(i) for i in range(start, start + 50)])
    sink.close()
    assert ids(tmp_path) == [f"d-{i}" for i in range(1500)]
    found = segments(tmp_path)
    assert len(found) > 3
    for _number, path in found:
        data = path.read_bytes()
        assert b"\0" not in data, path
        assert data.endswith(b"\n"), path
        assert len(data) <= MIN_SEGMENT_BYTES
    assert [n for n, _ in found] == list(range(1, len(found) + 1))


def test_the_next_segment_is_prepared_in_the_background_before_it_is_needed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = SegmentedFileSink(tmp_path, segment_bytes=MIN_SEGMENT_BYTES)
    deadline = time.monotonic() + 10
    while not segment_path(tmp_path, 2).exists() or segment_path(tmp_path, 2).stat().st_size < MIN_SEGMENT_BYTES:
        assert time.monotonic() < deadline, "no spare segment was prepared"
        time.sleep(0.01)
    time.sleep(0.1)  # let the preparer hand it over
    with caplog.at_level(logging.WARNING, logger="mlplat.model_server.decision_log"):
        for start in range(0, 1000, 20):  # ~4 segments, in batches as group commit makes them
            sink.write_batch([record(i) for i in range(start, start + 20)])
            time.sleep(0.01)
    sink.close()
    assert "no segment prepared in time" not in caplog.text
    assert ids(tmp_path) == [f"d-{i}" for i in range(1000)]
    assert len(segments(tmp_path)) >= 4


def test_a_record_larger_than_a_segment_is_kept_whole(tmp_path: Path) -> None:
    sink = SegmentedFileSink(tmp_path, segment_bytes=MIN_SEGMENT_BYTES)
    sink.write_batch([record(0), record(1, size=3 * MIN_SEGMENT_BYTES), record(2)])
    sink.close()
    assert ids(tmp_path) == ["d-0", "d-1", "d-2"]
    assert [len(r["pad"]) for r in read_decision_log(tmp_path)] == [200, 3 * MIN_SEGMENT_BYTES, 200]


def stalling_disk(
    monkeypatch: pytest.MonkeyPatch, sink: SegmentedFileSink
) -> tuple[threading.Event, threading.Event, list[float]]:
    """Flushes of the sink's active segment stall until ``disk_back`` is set.

    Returns ``disk_back``, an event set once a flush has started stalling, and the times
    the flushes ended.
    """
    disk_back, stalling = threading.Event(), threading.Event()
    flushed: list[float] = []
    real = segmented_log._datasync
    active = sink._active.fd  # the background thread flushes the spare it prepares: not stalled

    def flush(fd: int) -> None:
        if fd == active:
            stalling.set()
            disk_back.wait(30)
            flushed.append(time.monotonic())
        real(fd)

    monkeypatch.setattr(segmented_log, "_datasync", flush)
    return disk_back, stalling, flushed


def test_write_durability_answers_before_the_flush_and_a_stalled_flush_holds_up_no_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = SegmentedFileSink(tmp_path, Durability.WRITE, segment_bytes=MIN_SEGMENT_BYTES)
    disk_back, stalling, flushed = stalling_disk(monkeypatch, sink)
    sink.write_batch([record(0)])
    assert stalling.wait(10)  # the flusher is stuck in the first record's flush ...
    started = time.monotonic()
    for i in range(1, 20):  # ... and the next batches are written all the same
        sink.write_batch([record(i)])
    assert time.monotonic() - started < 1.0
    assert flushed == []
    assert ids(tmp_path) == [f"d-{i}" for i in range(20)]  # written: a killed server keeps them
    released = time.monotonic()
    disk_back.set()
    deadline = time.monotonic() + 10
    while len(flushed) < 2 and time.monotonic() < deadline:  # the stalled flush, then one for the rest
        time.sleep(0.01)
    assert len(flushed) == 2
    assert flushed[-1] >= released
    sink.close()
    assert ids(tmp_path) == [f"d-{i}" for i in range(20)]


def test_under_write_durability_a_failed_flush_fails_every_later_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    sink = SegmentedFileSink(tmp_path, Durability.WRITE, segment_bytes=MIN_SEGMENT_BYTES)
    active = sink._active.fd
    real = segmented_log._datasync

    def broken_disk(fd: int) -> None:
        if fd == active:
            raise OSError(5, "Input/output error")
        real(fd)

    monkeypatch.setattr(segmented_log, "_datasync", broken_disk)
    with caplog.at_level(logging.ERROR, logger="mlplat.model_server.decision_log"):
        sink.write_batch([record(0)])  # answered once written; its flush fails behind it
        assert sink._flusher is not None
        sink._flusher.join(10)  # the flusher stops after reporting the failure
    assert "a flush failed" in caplog.text
    monkeypatch.undo()
    with pytest.raises(DecisionLogError, match="restart the server"):
        sink.write_batch([record(1)])


def test_a_failed_flush_fails_that_batch_and_every_later_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = SegmentedFileSink(tmp_path, segment_bytes=MIN_SEGMENT_BYTES)

    def broken_disk(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(segmented_log, "_datasync", broken_disk)
    with pytest.raises(DecisionLogError, match="flush failed"):
        sink.write_batch([record(0)])
    monkeypatch.undo()
    # The disk "works" again, but what the failed flush held cannot be trusted: refuse.
    with pytest.raises(DecisionLogError, match="restart the server"):
        sink.write_batch([record(1)])
    sink.close()


def test_a_file_where_the_log_directory_belongs_is_refused(tmp_path: Path) -> None:
    (tmp_path / "decisions.jsonl").write_text("")
    with pytest.raises(DecisionLogError, match="is a file; the log is a directory of segment files"):
        SegmentedFileSink(tmp_path / "decisions.jsonl")


CRASHING_WRITER = """
import os, signal, sys
from pathlib import Path
from services.model_server.decision_log import LogEntry
from services.model_server.segmented_log import SegmentedFileSink
sink = SegmentedFileSink(Path(sys.argv[1]), segment_bytes=65536)
for i in range(int(sys.argv[2])):
    sink.write_batch([LogEntry(str(i), b'{"id": "d-%d"}' % i)])
# a torn record: a write cut short, never flushed, never answered
os.pwrite(sink._active.fd, b'{"id": "torn', sink._active.position)
os.kill(os.getpid(), signal.SIGKILL)
"""


def crash_after(directory: Path, records: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(directory), str(records)], env=env, check=False)
    assert done.returncode == -signal.SIGKILL


def test_a_restart_after_a_crash_keeps_every_record_and_starts_a_new_segment(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    crash_after(tmp_path, 100)
    # The crash left the active segment at full size, zero-padded after its records, and
    # maybe the spare prepared next to it.
    (_, first), *_ = segments(tmp_path)
    assert first.stat().st_size == 65536
    with caplog.at_level(logging.WARNING, logger="mlplat.model_server.decision_log"):
        assert ids(tmp_path) == [f"d-{i}" for i in range(100)]  # readable as it is
    assert "skipping a torn record" in caplog.text

    sink = SegmentedFileSink(tmp_path, segment_bytes=MIN_SEGMENT_BYTES)
    sink.write_batch([LogEntry("new", b'{"id": "after-restart"}')])
    sink.close()
    assert b"\0" not in first.read_bytes()  # the padding was cut back
    assert [n for n, _ in segments(tmp_path)] == [1, 2]  # the old segment is never written again
    assert ids(tmp_path) == [f"d-{i}" for i in range(100)] + ["after-restart"]


def test_concurrent_writers_through_group_commit_lose_nothing_across_segments(tmp_path: Path) -> None:
    log = DecisionLog(SegmentedFileSink(tmp_path, segment_bytes=MIN_SEGMENT_BYTES))

    async def client(offset: int) -> None:
        for i in range(offset, offset + 200):
            await log.append(f"d-{i}", orjson.dumps({"id": f"d-{i}", "pad": "y" * 300}))

    async def clients(offset: int) -> None:
        await asyncio.wait_for(asyncio.gather(*(client(offset + 200 * k) for k in range(5))), 60)

    def run(offset: int) -> None:
        asyncio.run(clients(offset))

    threads = [threading.Thread(target=run, args=(1000 * t,)) for t in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    expected = {f"d-{1000 * t + i}" for t in range(3) for i in range(1000)}
    written = ids(tmp_path)
    assert len(written) == len(expected)
    assert set(written) == expected
    assert len(segments(tmp_path)) > 10


def test_recovery_trims_every_padded_segment_and_removes_empty_ones(tmp_path: Path) -> None:
    segment_path(tmp_path, 1).write_bytes(b'{"id": "a"}\n' + bytes(1000))  # full, not yet cut back
    segment_path(tmp_path, 2).write_bytes(b'{"id": "b"}\n' + bytes(1000))  # the active one
    segment_path(tmp_path, 3).write_bytes(b"")  # a spare created, not yet filled
    sink = SegmentedFileSink(tmp_path, segment_bytes=MIN_SEGMENT_BYTES)
    sink.write_batch([LogEntry("c", b'{"id": "c"}')])
    sink.close()
    assert segment_path(tmp_path, 1).read_bytes() == b'{"id": "a"}\n'
    assert segment_path(tmp_path, 2).read_bytes() == b'{"id": "b"}\n'
    assert segment_path(tmp_path, 3).read_bytes() == b'{"id": "c"}\n'  # the new segment takes the free number
    assert ids(tmp_path) == ["a", "b", "c"]
