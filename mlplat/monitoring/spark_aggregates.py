"""The counts of a report window with Spark, for windows too large for one machine.

Implements :class:`mlplat.monitoring.aggregates.Aggregator` with the rules that module
states, as the DuckDB aggregator does, over decision-log files Spark can read: local
JSON-lines segments, or the Firehose archive's ``.jsonl.gz`` objects as ``s3://`` paths
on EMR (Spark picks the codec by the extension). Only counts leave the cluster: a few
rows per input bin, role, day and distinct matured score.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F  # noqa: N812 - the name every Spark reader knows
from pyspark.sql import types as T  # noqa: N812

from mlplat.monitoring.aggregates import (
    DailyRow,
    InputRow,
    MaturedRow,
    OutcomeQuery,
    OutcomeRow,
    RateRow,
    ScoreRow,
    VolumeRow,
    WindowAggregates,
    WindowQuery,
)


def record_schema(refs: Sequence[str]) -> T.StructType:
    """The fields of a decision record monitoring reads (``time`` as text, parsed after)."""

    feature = T.StructType(
        [
            T.StructField("value", T.DoubleType()),
            T.StructField("source", T.StringType()),
            T.StructField("status", T.StringType()),
        ]
    )
    features = T.StructType([T.StructField(ref, feature) for ref in refs] or [T.StructField("x", T.StringType())])
    return T.StructType(
        [
            T.StructField("id", T.StringType()),
            T.StructField("time", T.StringType()),
            T.StructField("model", T.StringType()),
            T.StructField("kind", T.StringType()),
            T.StructField("version", T.StringType()),
            T.StructField("canary", T.BooleanType()),
            T.StructField("decision", T.StringType()),
            T.StructField("score", T.DoubleType()),
            T.StructField("features", features),
        ]
    )


def bin_column(value: Column, edges: Sequence[float]) -> Column:
    """The bin index of ``value`` (0 .. len(edges)): the first edge ``>= value``, as the profile bins."""
    if not edges:
        return F.lit(0)
    chosen = F.when(value <= F.lit(float(edges[0])), F.lit(0))
    for index, edge in enumerate(edges[1:], start=1):
        chosen = chosen.when(value <= F.lit(float(edge)), F.lit(index))
    return chosen.otherwise(F.lit(len(edges)))


class SparkAggregator:
    """Counts with a Spark session over ``paths`` (files or ``s3://`` objects of JSON lines)."""

    def __init__(self, session: SparkSession, paths: Sequence[str]) -> None:
        # Days and months are UTC's, as in DuckDB: Spark reads them in the session's zone.
        zone = session.conf.get("spark.sql.session.timeZone")
        if zone not in ("UTC", "Etc/UTC"):
            raise ValueError(f"the Spark session's spark.sql.session.timeZone is {zone!r}; monitoring needs UTC")
        self._session = session
        self._paths = list(paths)

    def _records(self, refs: Sequence[str], model: str, since: datetime, until: datetime) -> DataFrame:
        if not self._paths:
            return self._session.createDataFrame([], record_schema(refs))
        frame = self._session.read.schema(record_schema(refs)).option("mode", "PERMISSIVE").json(self._paths)
        frame = frame.withColumn("time", F.col("time").cast("timestamp"))
        window = (F.col("model") == model) & (F.col("time") >= F.lit(since)) & (F.col("time") < F.lit(until))
        # A record delivered twice (the stream and Firehose deliver at least once) counts once.
        return frame.where(window).dropDuplicates(["id", "kind", "version"])

    def aggregate(self, query: WindowQuery) -> WindowAggregates:
        records = self._records(list(query.inputs), query.model, query.previous_start, query.as_of)
        period = F.when(F.col("time") >= F.lit(query.current_start), "current").otherwise("previous")
        records = records.withColumn("period", period).withColumn("role", _role()).cache()
        try:
            matured: list[MaturedRow] = []
            outcomes: list[OutcomeRow] = []
            if query.outcomes is not None:
                matured, outcomes = self._performance(query.model, query.outcomes)
            return WindowAggregates(
                {ref: _input_rows(records, ref, edges) for ref, edges in query.inputs.items()},
                {version: _score_rows(records, version, edges) for version, edges in query.scores.items()},
                _rate_rows(records),
                _daily_rows(records),
                _volume_rows(records),
                matured,
                outcomes,
            )
        finally:
            records.unpersist()

    def _performance(self, model: str, source: OutcomeQuery) -> tuple[list[MaturedRow], list[OutcomeRow]]:
        decisions = self._records([], model, source.since, source.matured_by).where(F.col("kind") == "decision")
        decisions = decisions.withColumn("month", F.date_format("time", "yyyy-MM"))
        matured = [(str(r[0]), int(r[1])) for r in decisions.groupBy("month").count().collect()]
        raw = self._session.read.parquet(source.path)
        recorded = (
            F.col(source.recorded_field)
            if source.recorded_field
            else F.col(source.time_field) + F.expr(f"INTERVAL {int(source.label_window.total_seconds())} SECONDS")
        )
        latest = Window.partitionBy("decision_id").orderBy(F.col("_recorded").desc())
        labels = (
            raw.withColumn("_recorded", recorded)
            .where(F.col("_recorded") <= F.lit(source.as_of))
            .withColumn("_n", F.row_number().over(latest))
            .where(F.col("_n") == 1)
            .select("decision_id", F.col(source.label).cast("int").alias("label"))
            .where(F.col("label").isNotNull())
        )
        joined = decisions.join(labels, decisions["id"] == labels["decision_id"])
        rows = (
            joined.groupBy("month", "score")
            .agg(F.sum("label").alias("bads"), (F.count(F.lit(1)) - F.sum("label")).alias("goods"))
            .collect()
        )
        return matured, [(str(r[0]), float(r[1]), int(r[2]), int(r[3])) for r in rows]


def _role() -> Column:
    return F.when(F.col("kind") == "shadow", "shadow").when(F.col("canary"), "canary").otherwise("primary")


def _input_rows(records: DataFrame, ref: str, edges: Sequence[float]) -> list[InputRow]:
    feature = F.col("features").getField(ref)
    source, status = feature.getField("source"), feature.getField("status")
    served = source.isin("store", "request")
    index = F.when(served, bin_column(feature.getField("value"), edges)).otherwise(F.lit(-1))
    # A request value has no status: a NULL comparison counts as false, not as NULL.
    missing = F.coalesce((status == "NOT_FOUND") | ((status == "PRESENT") & ~served), F.lit(False))
    stale = F.coalesce(status == "OUTSIDE_MAX_AGE", F.lit(False))
    default = F.coalesce(source == "default", F.lit(False))
    rows = (
        records.where(F.col("kind").isin("decision", "refusal"))
        .groupBy(
            "period",
            index.alias("bin"),
            missing.alias("missing"),
            stale.alias("stale"),
            default.alias("default"),
        )
        .count()
        .collect()
    )
    return [(str(r[0]), int(r[1]), bool(r[2]), bool(r[3]), bool(r[4]), int(r[5])) for r in rows]


def _score_rows(records: DataFrame, version: str, edges: Sequence[float]) -> list[ScoreRow]:
    rows = (
        records.where(
            F.col("kind").isin("decision", "shadow") & F.col("score").isNotNull() & (F.col("version") == version)
        )
        .groupBy("period", bin_column(F.col("score"), edges).alias("bin"))
        .count()
        .collect()
    )
    return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]


def _approvals() -> Column:
    return F.sum(F.when(F.col("decision") == "approve", 1).otherwise(0)).alias("approvals")


def _rate_rows(records: DataFrame) -> list[RateRow]:
    rows = (
        records.where(F.col("kind").isin("decision", "shadow"))
        .groupBy("version", "role", "period")
        .agg(F.count(F.lit(1)), _approvals())
        .collect()
    )
    return [(str(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4])) for r in rows]


def _daily_rows(records: DataFrame) -> list[DailyRow]:
    rows = (
        records.where(F.col("kind").isin("decision", "shadow"))
        .groupBy(F.to_date("time").alias("day"), "version", "role")
        .agg(F.count(F.lit(1)), _approvals())
        .collect()
    )
    return [(r[0], str(r[1]), str(r[2]), int(r[3]), int(r[4])) for r in rows]


def _volume_rows(records: DataFrame) -> list[VolumeRow]:
    def count_of(kind: str) -> Column:
        return F.sum(F.when(F.col("kind") == kind, 1).otherwise(0))

    rows = (
        records.where(F.col("kind") != "shadow")
        .groupBy("period")
        .agg(F.count(F.lit(1)), count_of("decision"), count_of("refusal"), count_of("error"))
        .collect()
    )
    return [(str(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]
