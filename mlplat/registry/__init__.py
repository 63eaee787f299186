"""The registry database (SQLite locally, MySQL on RDS): runs, watermarks, model versions."""

from mlplat.registry.database import (
    MaterializationRun,
    ModelVersionRecord,
    Registry,
    RegistryError,
    RunStatus,
    upgrade,
)

__all__ = ["MaterializationRun", "ModelVersionRecord", "Registry", "RegistryError", "RunStatus", "upgrade"]
