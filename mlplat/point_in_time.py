"""What a feature value is as of a moment: whether its row was available, and whether it is still fresh.

One definition for every consumer. The online store's freshness
(:func:`mlplat.online_store.codec.freshness`), both offline engines' point-in-time joins
(``mlplat/offline/duckdb_engine.py``, ``mlplat/offline/spark_engine.py``) and
materialization apply these rules; the SQL and Spark engines write them as conditions,
and ``tests/mlplat/test_point_in_time.py`` checks every side at each boundary.

* **Available at t**: a row's event time is at or before ``t`` and, where its source has
  a ``createdTimestampField`` and the view's ``availability`` is ``written`` (the
  default), it was written at or before ``t``. A credit model may learn only what the
  decision system could have read when it decided.
* **Fresh**: a value is fresh while its age (``t - event time``) is below the view's
  ttl. At age == ttl it is stale: served as ``OUTSIDE_MAX_AGE``, null in training rows.
"""

from __future__ import annotations

from datetime import datetime


def is_fresh(age_micros: int, ttl_micros: int) -> bool:
    """Whether a value ``age_micros`` old is within a ttl of ``ttl_micros``: age == ttl is stale."""
    return age_micros < ttl_micros


def is_available(event: datetime, created: datetime | None, at: datetime) -> bool:
    """Whether a row with these event and created times could be read at ``at``.

    ``created`` is ``None`` when the source has no created timestamp or the view's
    availability is ``eventTime``; then the event time alone decides.
    """
    return event <= at and (created is None or created <= at)
