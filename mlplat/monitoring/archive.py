"""The decision log's S3 archive, as Firehose writes it: which objects can hold a time range.

In AWS the model server puts each decision record on a Kinesis stream and a Firehose
delivery stream archives the stream into the decision-archive bucket
(``infra/components/decision_log.py``). With that delivery stream's settings an object is

``decisions/YYYY/MM/dd/HH/<stream>-<version>-YYYY-MM-dd-HH-mm-ss-<uuid>.jsonl.gz``

* the prefix is ``!{timestamp:yyyy/MM/dd/HH}``, in UTC: the approximate arrival time of the
  oldest record in the object (https://docs.aws.amazon.com/firehose/latest/dev/s3-prefixes.html);
  the suffix is Firehose's own (https://docs.aws.amazon.com/firehose/latest/dev/s3-object-name.html),
  with our ``fileExtension``;
* the object is one GZIP member of the records, each the model server's JSON record
  followed by ``\\n``: the ``AppendDelimiterToRecord`` processor adds the newline
  (https://docs.aws.amazon.com/firehose/latest/APIReference/API_Processor.html), so an
  object is newline-delimited JSON like a local segment.

Which prefixes can hold records of ``[since, until)``: a record's time is stamped before
it is put on the stream, so its arrival is later than its time, and by at most
:data:`PUT_SLACK` (the request waits for the put: a sink that takes longer has failed it).
The object holding it is named after its oldest record, which arrived at most
``arrival_span`` earlier: one buffering interval (60 s) normally, up to the stream's
retention when Firehose catches up on a backlog. So the objects of ``[since, until)`` are
under the hours from ``since - arrival_span`` to ``until + PUT_SLACK``; whole days are
listed with one day prefix. Records are filtered by their own time afterwards.
"""

from __future__ import annotations

import gzip
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlplat.errors import UsageError

#: Where the delivery stream writes records (``ARCHIVE_PREFIX`` of the decision-log component).
ARCHIVE_PREFIX = "decisions/"
#: The extension the delivery stream gives its objects (``fileExtension``): JSON lines, gzip.
FILE_EXTENSION = ".jsonl.gz"
#: The longest a record's arrival on the stream trails its ``time``.
PUT_SLACK = timedelta(hours=1)
#: Left out, how long before a record its object's oldest record may have arrived: the
#: stream's default retention (24 h), the longest a record can wait to be delivered.
DEFAULT_ARRIVAL_SPAN = timedelta(hours=24)

_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class ArchiveLocation:
    """An archive: a bucket and the delivery stream's prefix in it."""

    bucket: str
    prefix: str = ARCHIVE_PREFIX

    @classmethod
    def parse(cls, uri: str) -> ArchiveLocation:
        """``s3://bucket/decisions/`` as a location; errors say what to write."""
        if not uri.startswith("s3://"):
            raise UsageError(f"{uri!r} is not an s3:// URI; write s3://<decision-archive bucket>/{ARCHIVE_PREFIX}")
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise UsageError(f"{uri!r} names no bucket; write s3://<decision-archive bucket>/{ARCHIVE_PREFIX}")
        prefix = prefix or ARCHIVE_PREFIX
        return cls(bucket, prefix if prefix.endswith("/") else prefix + "/")


def _floor_hour(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def prefixes(
    prefix: str, since: datetime, until: datetime, arrival_span: timedelta = DEFAULT_ARRIVAL_SPAN
) -> list[str]:
    """The key prefixes whose objects can hold records of ``[since, until)``: whole days as one, else hours."""
    first, last = _floor_hour(since - arrival_span), _floor_hour(until + PUT_SLACK)
    found: list[str] = []
    hour = first
    while hour <= last:
        day_end = hour.replace(hour=0) + _DAY
        if hour.hour == 0 and day_end - _HOUR <= last:
            found.append(f"{prefix}{hour:%Y/%m/%d}/")
            hour = day_end
        else:
            found.append(f"{prefix}{hour:%Y/%m/%d/%H}/")
            hour += _HOUR
    return found


def merged_prefixes(
    prefix: str, ranges: Iterable[tuple[datetime, datetime]], arrival_span: timedelta = DEFAULT_ARRIVAL_SPAN
) -> list[str]:
    """:func:`prefixes` of several ranges, each prefix once, in order (a day prefix covers its hours)."""
    found: list[str] = []
    for since, until in ranges:
        found.extend(prefixes(prefix, since, until, arrival_span))
    days = {p for p in found if p.count("/") == prefix.count("/") + 3}
    unique = {p for p in found if p in days or p[: p.rstrip("/").rfind("/") + 1] not in days}
    return sorted(unique)


def list_objects(client: Any, location: ArchiveLocation, key_prefixes: Sequence[str]) -> list[str]:
    """Keys of the delivery stream's objects under ``key_prefixes`` (``ListObjectsV2``, every page)."""
    keys: list[str] = []
    paginator = client.get_paginator("list_objects_v2")
    for key_prefix in key_prefixes:
        for page in paginator.paginate(Bucket=location.bucket, Prefix=key_prefix):
            keys.extend(item["Key"] for item in page.get("Contents", ()) if item["Key"].endswith(FILE_EXTENSION))
    return keys


def window_keys(
    client: Any,
    location: ArchiveLocation,
    ranges: Iterable[tuple[datetime, datetime]],
    arrival_span: timedelta = DEFAULT_ARRIVAL_SPAN,
) -> list[str]:
    """Keys of the objects that can hold records of any of ``ranges``."""
    return list_objects(client, location, merged_prefixes(location.prefix, ranges, arrival_span))


@contextmanager
def downloaded(client: Any, location: ArchiveLocation, keys: Sequence[str]) -> Iterator[list[Path]]:
    """The objects ``keys`` as local JSON-lines files (decompressed), in a scratch directory."""
    with tempfile.TemporaryDirectory(prefix="mlplat-archive-") as scratch:
        files = []
        for number, key in enumerate(keys):
            body = client.get_object(Bucket=location.bucket, Key=key)["Body"].read()
            path = Path(scratch) / f"{number:08d}.jsonl"
            path.write_bytes(gzip.decompress(body))
            files.append(path)
        if not files:  # nothing archived in the window: an empty file gives the table its columns
            files.append(Path(scratch) / "empty.jsonl")
            files[0].write_bytes(b"")
        yield files
