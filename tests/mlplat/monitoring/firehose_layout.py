"""Decision records laid out as our Firehose delivery stream writes them (see mlplat/monitoring/archive.py).

Records arrive on the stream a little after their time; Firehose buffers them for its
buffering interval (60 s) and writes each buffer as one object: a GZIP member of the
records, each followed by the newline ``AppendDelimiterToRecord`` adds, under the
``decisions/yyyy/MM/dd/HH/`` prefix of the buffer's oldest arrival, named
``<stream>-<version>-yyyy-MM-dd-HH-mm-ss-<uuid><fileExtension>``.
"""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

import orjson

from mlplat.monitoring.archive import ARCHIVE_PREFIX, FILE_EXTENSION

STREAM = "mlplat-prod-decisions-archive"
BUFFERING_INTERVAL = timedelta(seconds=60)


def firehose_objects(
    lines: Iterable[bytes], arrival_delay: timedelta = timedelta(milliseconds=40)
) -> Iterator[tuple[str, bytes]]:
    """(key, body) of each object Firehose writes for ``lines`` (JSON records, in arrival order)."""
    buffer: list[bytes] = []
    oldest: datetime | None = None
    for line in lines:
        arrival = datetime.fromisoformat(orjson.loads(line)["time"]) + arrival_delay
        if oldest is not None and arrival - oldest >= BUFFERING_INTERVAL:
            yield _object(oldest, buffer)
            buffer, oldest = [], None
        oldest = oldest or arrival
        buffer.append(line + b"\n")
    if oldest is not None:
        yield _object(oldest, buffer)


def _object(oldest: datetime, records: list[bytes]) -> tuple[str, bytes]:
    name = f"{STREAM}-1-{oldest:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}{FILE_EXTENSION}"
    return f"{ARCHIVE_PREFIX}{oldest:%Y/%m/%d/%H}/{name}", gzip.compress(b"".join(records))


def log_lines(directory: Iterable[bytes]) -> list[bytes]:
    """Records in time order (Firehose sees them as they arrive)."""
    return sorted(directory, key=lambda line: datetime.fromisoformat(orjson.loads(line)["time"]))
