"""The registry database: materialization runs, watermarks per view, model versions.

A SQLite file locally, MySQL (RDS) in AWS, through SQLAlchemy. Opening it upgrades the
schema to the newest Alembic revision shipped in this package, so an upgrade of mlplat
never needs hand-written SQL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.exc import IntegrityError, OperationalError

from mlplat.errors import MlplatError, StoreUnavailableError
from mlplat.registry.schema import materialization_runs, model_versions, watermarks

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class RegistryError(MlplatError):
    """A registry record conflicts with what is already recorded."""

    exit_code = 1
    http_status = 409


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class MaterializationRun:
    id: int
    view: str
    window_start: datetime
    window_end: datetime
    engine: str
    status: RunStatus
    rows_written: int
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    owner: str | None = None
    """``host:pid`` of the process running it (``None`` for runs recorded before owners were)."""
    heartbeat_at: datetime | None = None
    """When its owner last said it is alive; ``None`` for runs recorded before heartbeats were."""

    @property
    def last_sign_of_life(self) -> datetime:
        return self.heartbeat_at or self.started_at


@dataclass(frozen=True)
class ModelVersionRecord:
    model: str
    version: str
    sha256: str
    artifact_uri: str
    metrics: Mapping[str, Any]
    created_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


def migration_config() -> Config:
    """Alembic configuration pointing at the migrations inside this package (no ini file)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the database behind ``engine`` to ``revision`` (the newest by default)."""
    config = migration_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


class Registry:
    """Typed access to the registry tables. Open it with :meth:`open`."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    @classmethod
    def open(cls, url: str) -> Registry:
        """The registry at ``url`` (``sqlite:///file.db``, ``mysql+pymysql://user@host/db``), upgraded to head."""
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, pool_pre_ping=True)
        try:
            upgrade(engine)
        except OperationalError as error:
            engine.dispose()
            raise StoreUnavailableError(
                f"registry database {engine.url.render_as_string(hide_password=True)} is unreachable: {error.orig}"
            ) from error
        return cls(engine)

    def close(self) -> None:
        self._engine.dispose()

    # --- materialization runs --------------------------------------------------------

    def start_run(self, view: str, start: datetime, end: datetime, engine: str, *, owner: str | None = None) -> int:
        """Record a run of ``view`` over ``[start, end)`` as running, owned by ``owner``; its id."""
        now = _now()
        values = {
            "view": view,
            "window_start": start,
            "window_end": end,
            "engine": engine,
            "status": RunStatus.RUNNING.value,
            "rows_written": 0,
            "started_at": now,
            "owner": owner,
            "heartbeat_at": now,
        }
        with self._engine.begin() as connection:
            result = connection.execute(materialization_runs.insert().values(**values))
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def finish_run(self, run_id: int, rows_written: int) -> None:
        self._update_run(run_id, status=RunStatus.SUCCEEDED.value, rows_written=rows_written)

    def fail_run(self, run_id: int, error: str) -> None:
        self._update_run(run_id, status=RunStatus.FAILED.value, error=error[:4000])

    def heartbeat(self, run_id: int) -> bool:
        """Say run ``run_id`` is alive; ``False`` when it is no longer running (another run marked it failed)."""
        with self._engine.begin() as connection:
            result = connection.execute(
                materialization_runs.update()
                .where(materialization_runs.c.id == run_id, materialization_runs.c.status == RunStatus.RUNNING.value)
                .values(heartbeat_at=_now())
            )
        return bool(result.rowcount)

    def running_runs(self, view: str) -> list[MaterializationRun]:
        """The runs of ``view`` recorded as running, oldest first."""
        query = (
            sa.select(materialization_runs)
            .where(materialization_runs.c.view == view, materialization_runs.c.status == RunStatus.RUNNING.value)
            .order_by(materialization_runs.c.id)
        )
        return self._runs(query)

    def fail_if_unchanged(self, run: MaterializationRun, error: str) -> bool:
        """Mark ``run`` failed only if it is still running with the heartbeat it was read with.

        One conditional ``UPDATE``, atomic on SQLite and MySQL alike: a run whose owner
        heartbeats meanwhile is left alone, and of two processes reaping the same run one wins.
        """
        columns = materialization_runs.c
        condition = [columns.id == run.id, columns.status == RunStatus.RUNNING.value]
        condition.append(
            columns.heartbeat_at.is_(None) if run.heartbeat_at is None else columns.heartbeat_at == run.heartbeat_at
        )
        with self._engine.begin() as connection:
            result = connection.execute(
                materialization_runs.update()
                .where(*condition)
                .values(status=RunStatus.FAILED.value, finished_at=_now(), error=error[:4000])
            )
        return bool(result.rowcount)

    def _update_run(self, run_id: int, **values: object) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                materialization_runs.update()
                .where(materialization_runs.c.id == run_id)
                .values(finished_at=_now(), **values)
            )

    def runs(self, view: str | None = None, limit: int = 50) -> list[MaterializationRun]:
        """The latest runs, newest first; of ``view`` only when given."""
        query = sa.select(materialization_runs).order_by(materialization_runs.c.id.desc()).limit(limit)
        if view is not None:
            query = query.where(materialization_runs.c.view == view)
        return self._runs(query)

    def _runs(self, query: sa.Select[Any]) -> list[MaterializationRun]:
        with self._engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [MaterializationRun(**{**row, "status": RunStatus(row["status"])}) for row in rows]

    # --- watermarks ------------------------------------------------------------------

    def watermark(self, view: str) -> datetime | None:
        """How far ``view`` has been materialized: every event before it is in the online store."""
        query = sa.select(watermarks.c.watermark).where(watermarks.c.view == view)
        with self._engine.connect() as connection:
            value: datetime | None = connection.execute(query).scalar_one_or_none()
        return value

    def advance_watermark(self, view: str, to: datetime) -> datetime:
        """Move the watermark of ``view`` forward to ``to``; never back. The watermark after the call."""
        with self._engine.begin() as connection:
            current: datetime | None = connection.execute(
                sa.select(watermarks.c.watermark).where(watermarks.c.view == view).with_for_update()
            ).scalar_one_or_none()
            if current is None:
                connection.execute(watermarks.insert().values(view=view, watermark=to, updated_at=_now()))
                return to
            if to > current:
                connection.execute(
                    watermarks.update().where(watermarks.c.view == view).values(watermark=to, updated_at=_now())
                )
                return to
            return current

    # --- model versions --------------------------------------------------------------

    def record_model_version(
        self, model: str, version: str, sha256: str, artifact_uri: str, metrics: Mapping[str, Any]
    ) -> ModelVersionRecord:
        """Record a trained version. Retraining to the same file is a no-op; a different file is refused."""
        existing = self.model_version(model, version)
        if existing is not None:
            if existing.sha256 != sha256:
                raise RegistryError(
                    f"model {model!r} version {version!r} is already recorded with sha256 {existing.sha256}; "
                    f"this artifact is {sha256}. Versions are immutable: train it as a new version"
                )
            return existing
        record = ModelVersionRecord(model, version, sha256, artifact_uri, dict(metrics), _now())
        values = {**record.__dict__, "metrics": json.dumps(dict(metrics), sort_keys=True)}
        try:
            with self._engine.begin() as connection:
                connection.execute(model_versions.insert().values(**values))
        except IntegrityError:
            # another trainer recorded the same version between our read and our insert
            return self.record_model_version(model, version, sha256, artifact_uri, metrics)
        return record

    def model_version(self, model: str, version: str) -> ModelVersionRecord | None:
        found = self.model_versions(model, version)
        return found[0] if found else None

    def model_versions(self, model: str, version: str | None = None) -> list[ModelVersionRecord]:
        """Recorded versions of ``model``, oldest first."""
        query = sa.select(model_versions).where(model_versions.c.model == model).order_by(model_versions.c.id)
        if version is not None:
            query = query.where(model_versions.c.version == version)
        with self._engine.connect() as connection:
            rows = connection.execute(query).mappings().all()
        return [
            ModelVersionRecord(
                row["model"],
                row["version"],
                row["sha256"],
                row["artifact_uri"],
                json.loads(row["metrics"]),
                row["created_at"],
            )
            for row in rows
        ]


__all__ = [
    "MaterializationRun",
    "ModelVersionRecord",
    "Registry",
    "RegistryError",
    "RunStatus",
    "upgrade",
]
