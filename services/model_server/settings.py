"""The model server's settings: the shared ``MLPLAT_*`` base plus models and the decision log."""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import NoDecode

from mlplat.decision_log import DEFAULT_DECISION_LOG
from services.model_server.decision_log import Durability
from services.model_server.segmented_log import DEFAULT_SEGMENT_BYTES, MIN_SEGMENT_BYTES
from services.settings import ServiceSettings

KINESIS_SCHEME = "kinesis://"


class Settings(ServiceSettings):
    """Everything the model server is told at start; defaults suit one laptop."""

    models: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias=AliasChoices("MLPLAT_MODEL", "MLPLAT_MODELS", "models")
    )
    """MLPLAT_MODEL (one) or MLPLAT_MODELS (comma-separated): models to serve. Default: every model in the catalog."""
    artifact_root: str = "models"
    """MLPLAT_ARTIFACT_ROOT: where relative artifact URIs resolve, a directory or ``s3://bucket[/prefix]``. Default ``models``."""
    s3_endpoint_url: str | None = None
    """MLPLAT_S3_ENDPOINT_URL: S3 endpoint for artifacts. Default: AWS's."""
    decision_log: str = Field(default=str(DEFAULT_DECISION_LOG), min_length=1)
    """MLPLAT_DECISION_LOG: a directory (JSON-lines segment files) or ``kinesis://<stream>``. Default ``.mlplat/decisions``, where ``mlplat-serve decisions`` and ``mlplat monitor`` look."""
    decision_log_durability: Durability = Durability.FSYNC
    """MLPLAT_DECISION_LOG_DURABILITY: ``fsync`` (answer after the batch's fdatasync) or ``write`` (answer after the write, flush right after). Default fsync."""
    decision_log_segment_bytes: int = Field(default=DEFAULT_SEGMENT_BYTES, ge=MIN_SEGMENT_BYTES)
    """MLPLAT_DECISION_LOG_SEGMENT_BYTES: size of one preallocated segment file. Default 64 MiB; at least 64 KiB."""
    kinesis_endpoint_url: str | None = None
    """MLPLAT_KINESIS_ENDPOINT_URL: Kinesis endpoint. Default: AWS's."""
    scoring_threads: int = Field(default=0, ge=0, le=64)
    """MLPLAT_SCORING_THREADS: threads that score decisions off the event loop. Default 0: on the loop, the lowest latency for a one-CPU replica."""

    @field_validator("models", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("decision_log")
    @classmethod
    def _log_target(cls, value: str) -> str:
        if value == KINESIS_SCHEME:
            raise ValueError("give a directory or kinesis://<stream name>")
        return value

    @property
    def kinesis_stream(self) -> str | None:
        """The decision stream's name when the log goes to Kinesis."""
        return self.decision_log.removeprefix(KINESIS_SCHEME) if self.decision_log.startswith(KINESIS_SCHEME) else None
