"""The decision log on local disk: JSON lines in preallocated, zero-filled segment files.

Why preallocated: appending to a file changes its size, so every ``fsync`` of an append
also commits the filesystem's journal: a second device round trip that queues behind
other writes, and the source of most of the 10-60 ms flush stalls measured on a shared
disk (docs/benchmarks.md). A record written over blocks that were zero-filled and synced
in advance changes no metadata, so ``fdatasync`` flushes the data alone.

Layout: one directory of ``decisions-00000001.jsonl``, ``-00000002``, ... A segment is
created at its full size filled with zeros (ahead of time, by a background thread, in
small synced slices), records are written at the next offset, and a segment that is full
or closed is cut back to its records. So closed segments are plain JSON lines; the active
one (or one left by a crash) ends in zero bytes, which :func:`mlplat.decision_log.read_decision_log` skips.
A restart never writes into an old segment: it trims the crash's padding and starts a
new one.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mlplat.decision_log import ends_in_padding, segment_path, segments
from services.model_server.decision_log import DecisionLogError, Durability, LogEntry

log = logging.getLogger("mlplat.model_server.decision_log")

#: Size of a full segment: at ~1.5 KiB per decision, ~45,000 decisions.
DEFAULT_SEGMENT_BYTES = 64 << 20
MIN_SEGMENT_BYTES = 64 << 10
_SLICE = 1 << 20  # zero-fill and sync a new segment this much at a time
_SLICE_PAUSE_S = 0.002  # between slices, so preparing a segment never floods the disk's queue

# Linux flushes a file's data without its timestamps with fdatasync; elsewhere fsync it is.
_datasync = getattr(os, "fdatasync", os.fsync)


@dataclass
class _Segment:
    number: int
    path: Path
    fd: int
    capacity: int
    position: int = 0


class SegmentedFileSink:
    """Decision records in preallocated segment files of one directory; see the module doc.

    ``write_batch`` writes a batch at the active segment's next offset (one ``pwrite`` per
    segment it touches) and, with :attr:`Durability.FSYNC`, ``fdatasync``\\ s before it
    returns; with :attr:`Durability.WRITE` a flusher thread ``fdatasync``\\ s behind it, so
    a slow flush never holds up the next batch. A background thread keeps the next
    segment ready (zero-filled and synced) from the moment the active one starts, and cuts
    full segments back to their records.
    """

    def __init__(
        self,
        directory: Path,
        durability: Durability = Durability.FSYNC,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    ) -> None:
        if segment_bytes < MIN_SEGMENT_BYTES:
            raise ValueError(f"segment_bytes={segment_bytes}: a segment holds at least {MIN_SEGMENT_BYTES} bytes")
        if directory.exists() and not directory.is_dir():
            raise DecisionLogError(
                f"decision log {directory} is a file; the log is a directory of segment files: give a directory"
            )
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.durability = durability
        self._segment_bytes = segment_bytes
        last = _recover(directory)
        self._active = _create(directory, last + 1, segment_bytes)
        self._lock = threading.Condition()
        self._spare: _Segment | None = None
        self._wanted = False  # the preparer owes a spare
        self._retired: list[_Segment] = []
        self._stopping = False
        self._failed: str | None = None  # why the log refuses records
        # Held while the active segment is flushed and while it is swapped for the next:
        # the flusher thread never flushes a segment once it is handed over to be closed.
        self._sync_lock = threading.Lock()
        self._preparer = threading.Thread(target=self._prepare_loop, name="decision-log-segments", daemon=True)
        self._preparer.start()
        self._want_spare()
        self._flush_wanted = threading.Event()
        self._flusher_stopping = False
        self._flusher: threading.Thread | None = None
        if durability is Durability.WRITE:
            self._flusher = threading.Thread(target=self._flush_loop, name="decision-log-flusher", daemon=True)
            self._flusher.start()

    # --- the writer thread ---------------------------------------------------------------

    def write_batch(self, entries: Sequence[LogEntry]) -> None:
        if self._failed is not None:
            raise DecisionLogError(self._failed)
        lines = [entry.data + b"\n" for entry in entries]
        start = 0
        while start < len(lines):
            end = _fitting(lines, start, self._active.capacity - self._active.position)
            if end == start:  # the next record does not fit: move on to a fresh segment
                if self._active.position > 0:
                    self._rotate()
                    continue
                end = start + 1  # a record larger than a whole segment: the segment grows
            _write_at(self._active, b"".join(lines[start:end]))
            start = end
        if self.durability is Durability.FSYNC:
            self._sync()
        else:
            self._flush_wanted.set()

    def _sync(self) -> None:
        with self._sync_lock:
            segment = self._active
            try:
                _datasync(segment.fd)
            except OSError as error:
                # After a failed flush the kernel may have dropped the pages it could not
                # write, and a later flush can succeed without them: nothing written since
                # the last good flush can be trusted, so the log refuses every later record.
                self._failed = f"decision log {segment.path}: a flush failed ({error}); restart the server"
                raise DecisionLogError(self._failed) from error

    def close(self) -> None:
        """Make every record durable, cut the active segment back, drop an unused spare."""
        if self._flusher is not None:
            self._flusher_stopping = True
            self._flush_wanted.set()
            self._flusher.join()
        _datasync(self._active.fd)
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        self._preparer.join()
        _retire(self._active)
        if self._spare is not None:
            os.close(self._spare.fd)
            self._spare.path.unlink()
            _sync_directory(self.directory)

    def _rotate(self) -> None:
        # Records already written to the full segment must be durable before any later
        # record is answered for: one extra flush per segment.
        self._sync()
        full = self._active
        with self._lock:
            while self._spare is None and self._wanted:  # being prepared: wait for it
                self._lock.wait()
            spare, self._spare = self._spare, None
        if spare is None:  # none prepared (a burst, or preparing failed): create it now
            log.warning("decision log: no segment prepared in time; creating segment %d now", full.number + 1)
            spare = _create(self.directory, full.number + 1, self._segment_bytes)  # on failure nothing changed
        with self._sync_lock, self._lock:
            self._active = spare
            self._retired.append(full)
            self._lock.notify_all()
        self._want_spare()

    # --- the flusher thread (write durability) ------------------------------------------

    def _flush_loop(self) -> None:
        while True:
            self._flush_wanted.wait()
            self._flush_wanted.clear()  # a batch written from here on asks for another flush
            if self._flusher_stopping:  # close() makes the last flush itself
                return
            try:
                self._sync()
            except DecisionLogError as error:  # every later batch is refused with it
                log.error("%s", error)
                return

    def _want_spare(self) -> None:
        with self._lock:
            if self._spare is None and not self._wanted:
                self._wanted = True
                self._lock.notify_all()

    # --- the preparer thread -------------------------------------------------------------

    def _prepare_loop(self) -> None:
        while True:
            with self._lock:
                while not (self._stopping or self._wanted or self._retired):
                    self._lock.wait()
                if self._stopping:
                    retired, self._retired = self._retired, []
                    for segment in retired:
                        _retire(segment)
                    return
                retired, self._retired = self._retired, []
                number = self._active.number + 1 if self._wanted else None
            for segment in retired:
                _retire(segment)
            if number is not None:
                self._prepare(number)

    def _prepare(self, number: int) -> None:
        try:
            spare = _create(self.directory, number, self._segment_bytes, pause_s=_SLICE_PAUSE_S)
        except OSError as error:  # the writer creates it itself when it needs it
            log.error("decision log: preparing segment %d failed: %s", number, error)
            with self._lock:
                self._wanted = False
                self._lock.notify_all()
            return
        with self._lock:
            self._wanted = False
            if self._stopping or self._active.number >= number:  # not needed any more
                os.close(spare.fd)
                spare.path.unlink()
            else:
                self._spare = spare
            self._lock.notify_all()


def _fitting(lines: Sequence[bytes], start: int, room: int) -> int:
    """The end of the run of ``lines`` from ``start`` that fits in ``room`` bytes."""
    end, size = start, 0
    while end < len(lines) and size + len(lines[end]) <= room:
        size += len(lines[end])
        end += 1
    return end


def _write_at(segment: _Segment, data: bytes) -> None:
    """Write at the segment's next offset; after a failure the next write starts there again."""
    view, position = memoryview(data), segment.position
    while view:
        written = os.pwrite(segment.fd, view, position)
        position += written
        view = view[written:]
    segment.position = position


def _create(directory: Path, number: int, size: int, pause_s: float = 0.0) -> _Segment:
    """A new segment of ``size`` zero bytes, its data and directory entry durable."""
    path = segment_path(directory, number)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        zeros = bytes(min(_SLICE, size))
        for offset in range(0, size, _SLICE):
            chunk = zeros[: min(_SLICE, size - offset)]
            os.pwrite(fd, chunk, offset)
            if pause_s:
                _datasync(fd)
                threading.Event().wait(pause_s)
        os.fsync(fd)
        _sync_directory(directory)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    return _Segment(number, path, fd, size)


def _retire(segment: _Segment) -> None:
    """Cut a segment back to its records and close it."""
    try:
        os.ftruncate(segment.fd, segment.position)
        os.fsync(segment.fd)
    except OSError as error:  # its records are durable already; readers skip the padding
        log.error("decision log: trimming %s failed: %s", segment.path, error)
    finally:
        os.close(segment.fd)


def _recover(directory: Path) -> int:
    """Trim the padding a crash left behind; the highest segment number."""
    for _, path in segments(directory):
        if ends_in_padding(path):  # the active segment, a prepared spare, one not yet cut back
            _trim_padding(path)
    found = segments(directory)
    return found[-1][0] if found else 0


def _trim_padding(path: Path) -> None:
    end = len(path.read_bytes().rstrip(b"\0"))
    if end == 0:
        path.unlink()
        log.info("decision log: removed %s (a segment with no records)", path)
    else:
        with path.open("r+b") as file:
            file.truncate(end)
            os.fsync(file.fileno())
        log.info("decision log: trimmed the padding after %s's records (%d bytes kept)", path, end)
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
