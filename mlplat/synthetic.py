"""Seeded synthetic data for the example BNPL specs: feature sources and labelled loans.

The generator writes every batch source that the example feature views read, with
exactly the columns and dtypes the catalog declares, plus ``loan_outcomes.parquet``
whose labels depend on the features as of each application (a logistic link), so a
model trained on it has real signal. The data has what real sources have and what the
offline engines must handle: several snapshots per entity, late rows
(``created_at`` days after ``event_timestamp``), corrections (two rows with the same
event time, the later ``created_at`` wins), entities with no history, gaps longer than
a view's ttl, and fraud rings that apply in bursts.

The same seed gives byte-identical files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mlplat.catalog import Catalog
from mlplat.errors import UsageError
from mlplat.offline.sources import TIMESTAMP, arrow_type, batch_source, offline_table

SECOND = 1_000_000  # timestamps are microseconds since the epoch
HOUR = 3600 * SECOND
DAY = 24 * HOUR
LABEL_SOURCE = "loan_outcomes"
Columns = dict[str, np.ndarray]


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate. Every default gives the data the example models are trained on."""

    seed: int = 7
    """Seed of every random draw; the same seed gives byte-identical files."""
    applicants: int = 3000
    """Applicants; merchants are one per 25 applicants (at least 20)."""
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    """First application time; feature history starts a month earlier."""
    days: int = 180
    """Span of applications."""

    @property
    def merchants(self) -> int:
        return max(20, self.applicants // 25)


@dataclass(frozen=True)
class WrittenFile:
    """One parquet file the generator wrote."""

    source: str
    path: Path
    rows: int


@dataclass(frozen=True)
class _World:
    """Latent facts every table is drawn from."""

    risk: np.ndarray  # per applicant, standard normal; higher is riskier
    ring: np.ndarray  # per applicant, fraud ring number or -1
    merchant_risk: np.ndarray  # per merchant, standard normal
    merchant_category: np.ndarray  # per merchant, category index
    t0: int  # config.start in microseconds
    t1: int  # end of applications


CATEGORIES = np.array(["electronics", "fashion", "travel", "home", "beauty", "sports"])
DEVICE_TYPES = np.array(["ios", "android", "web"])


def applicant_ids(n: int) -> np.ndarray:
    return np.array([f"a{i:07d}" for i in range(n)])


def merchant_ids(n: int) -> np.ndarray:
    return np.array([f"m{i:05d}" for i in range(n)])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def _world(config: SyntheticConfig, rng: np.random.Generator) -> _World:
    n = config.applicants
    ring = np.full(n, -1)
    # ~4% of applicants belong to rings of 4-8 people who apply in bursts
    members = rng.choice(n, size=max(4, n // 25), replace=False)
    ring[members] = np.arange(len(members)) // 6
    t0 = int(config.start.timestamp()) * SECOND
    return _World(
        risk=rng.standard_normal(n),
        ring=ring,
        merchant_risk=rng.standard_normal(config.merchants),
        merchant_category=rng.integers(0, len(CATEGORIES), config.merchants),
        t0=t0,
        t1=t0 + config.days * DAY,
    )


def _created_at(rng: np.random.Generator, event: np.ndarray, typical_delay: int) -> np.ndarray:
    """Write times: usually a little after the event, 5% of rows days late."""
    delay = (rng.exponential(typical_delay, len(event))).astype(np.int64) + SECOND
    late = rng.random(len(event)) < 0.05
    delay[late] += rng.integers(1 * DAY, 5 * DAY, int(late.sum()))
    return event + delay


def _with_corrections(rng: np.random.Generator, table: Columns, fix: Callable[[Columns], Columns]) -> Columns:
    """Append restatements of 1% of rows: same entity and event time, later ``created_at``, corrected values."""
    chosen = np.flatnonzero(rng.random(len(table["event_timestamp"])) < 0.01)
    copy = {name: values[chosen] for name, values in table.items()}
    copy = fix(copy)
    copy["created_at"] = copy["created_at"] + rng.integers(1 * HOUR, 3 * DAY, len(chosen))
    return {name: np.concatenate([table[name], copy[name]]) for name in table}


# --- feature sources ------------------------------------------------------------------


def _bureau(world: _World, rng: np.random.Generator) -> Columns:
    n = len(world.risk)
    months = int((world.t1 - world.t0) // (30 * DAY)) + 2
    who = np.repeat(np.arange(n), months)
    k = np.tile(np.arange(months), n)
    offset = rng.integers(0, 30 * DAY, n)[who]
    event = world.t0 - 30 * DAY + offset + k * 30 * DAY
    z = world.risk[who]
    base_fico = (690 - 50 * world.risk + rng.normal(0, 48, n))[who]
    drift = rng.normal(0, 8, len(who)).reshape(n, months).cumsum(axis=1).ravel()
    tradelines = rng.poisson(np.exp(1.8 - 0.25 * z))
    history = np.exp(rng.normal(4.7 - 0.3 * world.risk, 0.5, n))[who] + k
    utilization = _sigmoid(np.log(rng.beta(2, 4, len(who)) / 0.67) + 0.8 * z)
    table: Columns = {
        "_entity": who,
        "applicant_id": applicant_ids(n)[who],
        "event_timestamp": event,
        "created_at": _created_at(rng, event, 6 * HOUR),
        "fico_score": np.clip(np.round(base_fico + drift), 300, 850),
        "revolving_utilization": utilization,
        "open_tradelines": tradelines,
        "delinquencies_24m": rng.poisson(np.exp(-1.3 + 0.9 * z)),
        "inquiries_6m": rng.poisson(np.exp(0.2 + 0.4 * z + 1.2 * (world.ring[who] >= 0))),
        "credit_history_months": np.round(history),
        "total_revolving_balance": np.round(np.exp(rng.normal(8.6 + 0.3 * z, 0.8)) * (0.3 + utilization), 2),
        "has_bankruptcy": rng.random(len(who)) < _sigmoid(-4.0 + 1.2 * z),
        "thin_file": tradelines < 3,
    }

    def restate(rows: Columns) -> Columns:
        rows["fico_score"] = np.clip(rows["fico_score"] + rng.integers(-15, 16, len(rows["fico_score"])), 300, 850)
        return rows

    return _with_corrections(rng, table, restate)


def _repayment(world: _World, rng: np.random.Generator) -> Columns:
    n = len(world.risk)
    # new customers (30%) have no repayment history with us
    known = np.flatnonzero(rng.random(n) < 0.7)
    steps = int((world.t1 - world.t0) // (5 * DAY)) + 3
    who = np.repeat(known, steps)
    k = np.tile(np.arange(steps), len(known))
    event = world.t0 - 10 * DAY + k * 5 * DAY + rng.integers(0, 2 * DAY, len(who))
    # a few skipped roll-ups leave gaps longer than the view's 7 day ttl
    kept = rng.random(len(who)) > 0.08
    who, event = who[kept], event[kept]
    z = world.risk[who]
    late = rng.poisson(np.exp(-1.0 + 1.0 * z))
    plans = rng.poisson(2.5, len(who)) + 1
    table: Columns = {
        "_entity": who,
        "applicant_id": applicant_ids(n)[who],
        "event_timestamp": event,
        "created_at": _created_at(rng, event, 2 * HOUR),
        "plans_12m": plans,
        "on_time_rate": np.clip(1 - rng.beta(1.2, 12, len(who)) * np.exp(0.6 * z), 0, 1),
        "late_payments_90d": late,
        "max_days_past_due": np.where(late > 0, rng.geometric(0.08, len(who)), 0),
        "outstanding_balance": np.round(np.exp(rng.normal(5.5 + 0.2 * z, 0.9)), 2),
        "avg_plan_amount": np.round(np.exp(rng.normal(5.2, 0.5, len(who))), 2),
        "charged_off_plans": rng.poisson(np.exp(-3.5 + 1.2 * z)),
        "last_payment_at": event - rng.integers(0, 10 * DAY, len(who)),
    }

    def restate(rows: Columns) -> Columns:
        rows["outstanding_balance"] = np.round(rows["outstanding_balance"] * 1.1, 2)
        return rows

    return _with_corrections(rng, table, restate)


def _merchants(world: _World, rng: np.random.Generator) -> Columns:
    m = len(world.merchant_risk)
    days = int((world.t1 - world.t0) // DAY) + 5
    who = np.repeat(np.arange(m), days)
    d = np.tile(np.arange(days), m)
    event = world.t0 - 5 * DAY + d * DAY + 2 * HOUR
    r = world.merchant_risk[who]
    age = rng.integers(30, 3000, m)[who] + d
    table: Columns = {
        "_entity": who,
        "merchant_id": merchant_ids(m)[who],
        "event_timestamp": event,
        "created_at": _created_at(rng, event, 3 * HOUR),
        "merchant_category": CATEGORIES[world.merchant_category[who]],
        "chargeback_rate_90d": rng.beta(2, 200, len(who)) * np.exp(0.5 * r),
        "refund_rate_90d": rng.beta(3, 40, len(who)) * np.exp(0.2 * r),
        "avg_order_value": np.round(np.exp(rng.normal(5.0 + 0.1 * r, 0.1)), 2),
        "fraud_rate_90d": rng.beta(1.5, 300, len(who)) * np.exp(0.7 * r),
        "merchant_age_days": age,
        "default_rate_180d": rng.beta(5, 80, len(who)) * np.exp(0.4 * r),
    }

    def restate(rows: Columns) -> Columns:
        rows["chargeback_rate_90d"] = rows["chargeback_rate_90d"] * 1.2
        return rows

    return _with_corrections(rng, table, restate)


@dataclass(frozen=True)
class _Applications:
    applicant: np.ndarray
    merchant: np.ndarray
    time: np.ndarray
    device: np.ndarray
    declined: np.ndarray
    order_amount: np.ndarray
    instalments: np.ndarray


def _applications(world: _World, rng: np.random.Generator) -> _Applications:
    n, m = len(world.risk), len(world.merchant_risk)
    counts = rng.poisson(2.5, n)
    who = np.repeat(np.arange(n), counts)
    time = rng.integers(world.t0, world.t1, len(who))
    # rings apply in a burst: every member several times within two days, at risky merchants
    rings = world.ring[world.ring >= 0]
    burst = rng.integers(world.t0, world.t1 - 2 * DAY, int(rings.max()) + 1)
    members = np.flatnonzero(world.ring >= 0)
    ring_counts = rng.integers(3, 10, len(members))
    ring_who = np.repeat(members, ring_counts)
    ring_time = burst[world.ring[ring_who]] + rng.integers(0, 2 * DAY, len(ring_who))
    risky = np.argsort(-world.merchant_risk)[: max(3, m // 10)]
    is_ring = np.concatenate([np.zeros(len(who), bool), np.ones(len(ring_who), bool)])
    applicant = np.concatenate([who, ring_who])
    merchant = np.where(is_ring, rng.choice(risky, len(is_ring)), rng.zipf(1.6, len(is_ring)) % m)
    own_device = applicant * 4 + rng.integers(0, 2, len(is_ring)) * (rng.random(len(is_ring)) < 0.1)
    order = np.lexsort((np.concatenate([time, ring_time]), applicant))
    amount = np.exp(np.where(is_ring, rng.normal(6.2, 0.5, len(is_ring)), rng.normal(5.0, 0.7, len(is_ring))))
    return _Applications(
        applicant=applicant[order],
        merchant=merchant[order],
        time=np.concatenate([time, ring_time])[order],
        device=np.where(is_ring & (rng.random(len(is_ring)) < 0.6), -1 - np.arange(len(is_ring)), own_device)[order],
        declined=(rng.random(len(is_ring)) < np.where(is_ring, 0.5, 0.08))[order],
        order_amount=np.round(amount, 2)[order],
        instalments=rng.choice([3, 4, 6, 12], len(is_ring), p=[0.2, 0.5, 0.2, 0.1])[order],
    )


def _window_counts(apps: _Applications, window: int, values: np.ndarray | None) -> np.ndarray:
    """Per application: its applicant's applications in ``(t - window, t]`` (distinct ``values`` if given)."""
    out = np.zeros(len(apps.time), np.int64)
    starts = np.flatnonzero(np.r_[True, apps.applicant[1:] != apps.applicant[:-1]])
    ends = np.r_[starts[1:], len(apps.time)]
    for lo, hi in zip(starts, ends, strict=True):
        times = apps.time[lo:hi]
        first = np.searchsorted(times, times - window, side="right")
        if values is None:
            out[lo:hi] = np.arange(hi - lo) + 1 - first
        else:
            block = values[lo:hi]
            out[lo:hi] = [len(set(block[f : i + 1].tolist())) for i, f in enumerate(first)]
    return out


def _velocity(world: _World, apps: _Applications, rng: np.random.Generator) -> Columns:
    n = len(world.risk)
    email_seen = world.t0 - np.exp(rng.normal(6.5, 1.0, n)).astype(np.int64) * DAY
    ring_members = world.ring >= 0
    email_seen[ring_members] = world.t0 - rng.integers(0, 20, int(ring_members.sum())) * DAY
    # counters include the application itself: they are pushed as it arrives
    declined_24h = np.zeros(len(apps.time), np.int64)
    cumulative = np.cumsum(apps.declined)
    starts = np.flatnonzero(np.r_[True, apps.applicant[1:] != apps.applicant[:-1]])
    ends = np.r_[starts[1:], len(apps.time)]
    for lo, hi in zip(starts, ends, strict=True):
        times = apps.time[lo:hi]
        first = lo + np.searchsorted(times, times - DAY, side="right")
        before = np.where(first > 0, cumulative[first - 1], 0)
        declined_24h[lo:hi] = cumulative[lo:hi] - apps.declined[lo:hi] - before
    event = apps.time
    return {
        "_entity": apps.applicant,
        "applicant_id": applicant_ids(n)[apps.applicant],
        "event_timestamp": event,
        "created_at": event + rng.integers(SECOND, 30 * SECOND, len(event)),
        "applications_1h": _window_counts(apps, HOUR, None),
        "applications_24h": _window_counts(apps, DAY, None),
        "applications_7d": _window_counts(apps, 7 * DAY, None),
        "distinct_merchants_24h": _window_counts(apps, DAY, apps.merchant),
        "distinct_devices_7d": _window_counts(apps, 7 * DAY, apps.device),
        "declined_24h": declined_24h,
        "email_age_days": (event - email_seen[apps.applicant]) // DAY,
        "last_device_type": DEVICE_TYPES[np.abs(apps.device) % 3],
    }


# --- labels ---------------------------------------------------------------------------


def as_of_rows(table: Columns, entity: np.ndarray, time: np.ndarray, ttl: timedelta) -> np.ndarray:
    """Per query, the row of ``table`` valid at ``time``: latest event at or before it within ``ttl``, ties to the latest write; -1 when none.

    The generator's own point-in-time lookup, used to give labels their signal; the
    offline engines implement the same rule independently.
    """
    base = min(int(table["event_timestamp"].min()), int(time.min())) - 1
    span = max(int(table["event_timestamp"].max()), int(time.max())) - base + 1
    order = np.lexsort((table["created_at"], table["event_timestamp"], table["_entity"]))
    rows_entity = table["_entity"][order]
    rows_time = table["event_timestamp"][order]
    position = np.searchsorted(rows_entity * span + (rows_time - base), entity * span + (time - base), side="right") - 1
    clipped = np.maximum(position, 0)
    ttl_us = int(ttl.total_seconds()) * SECOND
    valid = (position >= 0) & (rows_entity[clipped] == entity) & (rows_time[clipped] > time - ttl_us)
    return np.where(valid, order[clipped], -1)


def _feature(table: Columns, rows: np.ndarray, name: str, missing: float) -> np.ndarray:
    values = table[name][np.maximum(rows, 0)].astype(np.float64)
    return np.where(rows >= 0, values, missing)


#: What the ground truth takes for a feature with no value as of the application.
MISSING_VALUES: dict[str, float] = {
    "fico_score": 690,
    "revolving_utilization": 0.3,
    "delinquencies_24m": 0,
    "has_bankruptcy": 0,
    "on_time_rate": 0.9,
    "late_payments_90d": 0,
    "charged_off_plans": 0,
    "default_rate_180d": 0.06,
    "applications_24h": 1,
    "distinct_devices_7d": 1,
    "email_age_days": 365,
    "fraud_rate_90d": 0.005,
}


def default_logit(x: Mapping[str, np.ndarray]) -> np.ndarray:
    """The log-odds of ``defaulted_90d`` given the features as of the application (missing ones filled)."""
    return -3.3 + 0.75 * (
        -0.013 * (x["fico_score"] - 690)
        + 1.6 * (x["revolving_utilization"] - 0.3)
        + 0.35 * x["delinquencies_24m"]
        + 1.2 * x["has_bankruptcy"]
        - 4.0 * (x["on_time_rate"] - 0.9)
        + 0.3 * x["late_payments_90d"]
        + 0.8 * x["charged_off_plans"]
        + 12.0 * (x["default_rate_180d"] - 0.06)
        + 0.3 * np.log(x["order_amount"] / 150)
        + 0.06 * (x["instalments"] - 4)
    )


def fraud_logit(x: Mapping[str, np.ndarray]) -> np.ndarray:
    """The log-odds of ``is_fraud`` given the features as of the application (missing ones filled)."""
    logit: np.ndarray = (
        -4.6
        + 0.35 * np.minimum(x["applications_24h"], 8)
        + 0.5 * (x["distinct_devices_7d"] - 1)
        - 0.35 * np.log1p(x["email_age_days"])
        + 40.0 * x["fraud_rate_90d"]
        + 0.4 * np.log(x["order_amount"] / 150)
        + 1.6
    )
    return logit


#: The labels the generator knows the truth of, and their log-odds.
GROUND_TRUTH: dict[str, Callable[[Mapping[str, np.ndarray]], np.ndarray]] = {
    "defaulted_90d": default_logit,
    "is_fraud": fraud_logit,
}
#: Where each feature the ground truth reads lives.
TRUTH_VIEWS = {
    "bureau_profile": ("fico_score", "revolving_utilization", "delinquencies_24m", "has_bankruptcy"),
    "repayment_history": ("on_time_rate", "late_payments_90d", "charged_off_plans"),
    "merchant_risk": ("default_rate_180d", "fraud_rate_90d"),
    "application_velocity": ("applications_24h", "distinct_devices_7d", "email_age_days"),
}


def _outcomes(
    apps: _Applications, tables: Mapping[str, Columns], ttls: Mapping[str, timedelta], rng: np.random.Generator
) -> Columns:
    entity = {
        "bureau_profile": apps.applicant,
        "repayment_history": apps.applicant,
        "merchant_risk": apps.merchant,
        "application_velocity": apps.applicant,
    }
    x: dict[str, np.ndarray] = {"order_amount": apps.order_amount, "instalments": apps.instalments}
    for view, names in TRUTH_VIEWS.items():
        rows = as_of_rows(tables[view], entity[view], apps.time, ttls[view])
        x.update({name: _feature(tables[view], rows, name, MISSING_VALUES[name]) for name in names})
    return {
        "applicant_id": applicant_ids(int(apps.applicant.max()) + 1)[apps.applicant],
        "merchant_id": merchant_ids(int(apps.merchant.max()) + 1)[apps.merchant],
        "event_timestamp": apps.time,
        "order_amount": apps.order_amount,
        "instalments": apps.instalments,
        "defaulted_90d": (rng.random(len(apps.time)) < _sigmoid(default_logit(x))).astype(np.int32),
        "is_fraud": (rng.random(len(apps.time)) < _sigmoid(fraud_logit(x))).astype(np.int32),
    }


# --- writing --------------------------------------------------------------------------


def _write(path: Path, fields: list[tuple[str, pa.DataType, np.ndarray]], order: np.ndarray) -> int:
    arrays = [pa.array(values[order], type=kind) for _, kind, values in fields]
    table = pa.Table.from_arrays(arrays, names=[name for name, _, _ in fields])
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    return int(table.num_rows)


def _write_view(catalog: Catalog, view: str, columns: Columns, root: Path) -> WrittenFile:
    table = offline_table(catalog, view)
    fields: list[tuple[str, pa.DataType, np.ndarray]] = [(key, pa.string(), columns[key]) for key in table.key_columns]
    fields.append((table.timestamp_field, TIMESTAMP, columns["event_timestamp"]))
    if table.created_timestamp_field is not None:
        fields.append((table.created_timestamp_field, TIMESTAMP, columns["created_at"]))
    unknown = [name for name in table.feature_names if name not in columns]
    if unknown:
        raise UsageError(
            f"the synthetic generator has no values for feature(s) {', '.join(unknown)} of view {view!r}; "
            f"it generates {', '.join(sorted(k for k in columns if not k.startswith('_')))}"
        )
    fields.extend((name, arrow_type(dtype), columns[name]) for name, dtype in table.features)
    order = np.lexsort((columns["created_at"], columns[table.key_columns[0]], columns["event_timestamp"]))
    path = root / table.uri
    return WrittenFile(table.source, path, _write(path, fields, order))


def _write_labels(catalog: Catalog, columns: Columns, root: Path) -> WrittenFile:
    source = batch_source(catalog, LABEL_SOURCE)
    assert source.spec.path is not None
    kinds = {
        "order_amount": pa.float64(),
        "instalments": pa.int32(),
        "defaulted_90d": pa.int32(),
        "is_fraud": pa.int32(),
    }
    fields = [(name, kinds.get(name, pa.string()), values) for name, values in columns.items()]
    fields = [(name, TIMESTAMP if name == "event_timestamp" else kind, values) for name, kind, values in fields]
    order = np.lexsort((columns["applicant_id"], columns["event_timestamp"]))
    path = root / source.spec.path
    return WrittenFile(LABEL_SOURCE, path, _write(path, fields, order))


VIEWS = ("bureau_profile", "repayment_history", "application_velocity", "merchant_risk")


def generate(catalog: Catalog, root: Path, config: SyntheticConfig | None = None) -> list[WrittenFile]:
    """Write the example views' sources and the labelled loans below ``root``; the files written."""
    config = config or SyntheticConfig()
    if not 50 <= config.applicants <= 200_000:
        raise UsageError(f"applicants is {config.applicants}; generate between 50 and 200000")
    missing = [view for view in (*VIEWS,) if view not in catalog.feature_views]
    if missing or LABEL_SOURCE not in catalog.sources:
        raise UsageError(
            f"the synthetic generator writes the example BNPL sources; this catalog lacks "
            f"{', '.join([*missing, *([] if LABEL_SOURCE in catalog.sources else [LABEL_SOURCE])])}"
        )
    seeds = np.random.SeedSequence(config.seed).spawn(7)
    rngs = [np.random.default_rng(s) for s in seeds]
    world = _world(config, rngs[0])
    apps = _applications(world, rngs[1])
    tables = {
        "bureau_profile": _bureau(world, rngs[2]),
        "repayment_history": _repayment(world, rngs[3]),
        "application_velocity": _velocity(world, apps, rngs[4]),
        "merchant_risk": _merchants(world, rngs[5]),
    }
    ttls = {view: catalog.feature_view(view).spec.ttl for view in tables}
    written = [_write_view(catalog, view, columns, root) for view, columns in tables.items()]
    written.append(_write_labels(catalog, _outcomes(apps, tables, ttls, rngs[6]), root))
    return written
