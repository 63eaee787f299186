"""The online store's interface and the values it reads and writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple, Protocol

#: Values of a view's join keys, in the order the view declares its entities.
EntityKey = tuple[str | int, ...]


class FeatureStatus(StrEnum):
    """Freshness of one served value (the names Feast clients know).

    ``PRESENT``: stored and younger than the view's ttl (the value itself may be None
    when it was written as null). ``OUTSIDE_MAX_AGE``: stored but older than the ttl;
    the value is still given. ``NOT_FOUND``: nothing stored for the entity (or it
    expired, or it was written with another schema of the view).
    """

    PRESENT = "PRESENT"
    NOT_FOUND = "NOT_FOUND"
    OUTSIDE_MAX_AGE = "OUTSIDE_MAX_AGE"


@dataclass(frozen=True)
class FeatureValue:
    """One served value: the value (None unless present or stale), its status and event time."""

    value: object
    status: FeatureStatus
    event_time: datetime | None


@dataclass(frozen=True)
class Row:
    """The values of one entity of one view as of ``event_time`` (timezone-aware).

    ``key`` holds the view's join-key values in entity order (str for string keys,
    int for int64 keys). ``values`` maps feature names to values of their declared
    dtype; a feature left out or None is stored as null.
    """

    key: EntityKey
    event_time: datetime
    values: Mapping[str, object]


class ReadRequest(NamedTuple):
    """Which features of which entity of which view to read.

    A named tuple rather than a dataclass: a read of 100 entities builds 300 of them per
    request, and a tuple is built in a fifth of a frozen dataclass's time.
    """

    view: str
    key: EntityKey
    features: Sequence[str]


class ReadResult(NamedTuple):
    """What one :class:`ReadRequest` found, in bulk.

    Every feature of one (view, entity) shares the status and the event time, so a
    result holds them once, with the values in the order the request named its
    features. Readers of many values (the feature server) use this to skip building a
    :class:`FeatureValue` per value.
    """

    status: FeatureStatus
    event_time: datetime | None
    values: tuple[object, ...]

    def by_feature(self, features: Sequence[str]) -> dict[str, FeatureValue]:
        """The values as :class:`FeatureValue` s by feature name (``features`` as requested)."""
        return {
            name: FeatureValue(value, self.status, self.event_time)
            for name, value in zip(features, self.values, strict=True)
        }


@dataclass(frozen=True)
class ViewStatus:
    """What the store knows of one view's freshness: newest stored event and recorded materialization runs."""

    newest_event_micros: int | None = None
    """Event time (µs since the epoch) of the newest row ever written for the view; None before the first."""
    runs_succeeded: int = 0
    runs_failed: int = 0


class OnlineStore(Protocol):
    """What every backend does. Implementations live beside this module."""

    def write(self, view: str, rows: Sequence[Row]) -> int:
        """Write rows atomically per (entity, view); older events never overwrite newer ones.

        Returns how many rows were applied (not older than what was stored; a row with
        the same event time replaces the stored one, so reruns are idempotent). Raises
        :class:`~mlplat.online_store.codec.FeatureValueError` for a value or key that
        does not fit the catalog, before anything is written.
        """
        ...

    def read(self, requests: Sequence[ReadRequest]) -> list[dict[str, FeatureValue]]:
        """Values for each request, in order, in one round trip to the backend.

        Each dict maps the requested feature names to their values. Unknown views or
        features raise :class:`~mlplat.errors.NotFoundError` before any I/O.
        """
        ...

    def ping(self) -> None:
        """Raise :class:`~mlplat.errors.StoreUnavailableError` unless the backend answers."""
        ...

    def record_run(self, view: str, succeeded: bool) -> None:
        """Count one finished materialization run of ``view`` (the feature server exports the counts)."""
        ...

    def view_status(self) -> dict[str, ViewStatus]:
        """Freshness and run counts of every view written or materialized so far, in one round trip."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class BulkOnlineStore(OnlineStore, Protocol):
    """An online store that also answers reads in bulk (both backends do)."""

    def read_bulk(self, requests: Sequence[ReadRequest]) -> list[ReadResult]:
        """One :class:`ReadResult` per request, in order, in one round trip."""
        ...
