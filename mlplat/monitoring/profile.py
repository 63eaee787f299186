"""The reference profile of a trained version: each input's binned distribution and the score's.

Written beside the model card as ``profile.json`` and tied to the version's sha256, so
a monitoring report compares live decisions with exactly the population the version
was developed on. The reference population is the training set's events before the
holdout start (the training events and the embargoed ones). Bins are quantile bins of
that population's present values: interior edges at the deciles (duplicates dropped, so
a boolean has two bins), a value ``v`` falls in the first bin whose edge is ``>= v``;
missing values (no row, outside the ttl, null) are counted apart, as missing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mlplat.catalog import ModelInput
from mlplat.errors import UsageError
from mlplat.spec.types import DType

PROFILE_NAME = "profile.json"
QUANTILES = tuple(q / 10 for q in range(1, 10))


@dataclass(frozen=True)
class Binned:
    """A distribution over quantile bins: ``len(edges) + 1`` bins, shares of present values, and the missing share."""

    edges: tuple[float, ...]
    shares: tuple[float, ...]
    missing_share: float
    count: int

    def categories(self) -> np.ndarray:
        """Shares of all values over the bins and, last, missing: sums to 1."""
        present = np.asarray(self.shares, dtype=np.float64) * (1.0 - self.missing_share)
        return np.append(present, self.missing_share)

    def as_record(self) -> dict[str, object]:
        return {
            "edges": list(self.edges),
            "shares": list(self.shares),
            "missing_share": self.missing_share,
            "count": self.count,
        }

    @classmethod
    def of_record(cls, record: Mapping[str, Any]) -> Binned:
        return cls(
            tuple(float(e) for e in record["edges"]),
            tuple(float(s) for s in record["shares"]),
            float(record["missing_share"]),
            int(record["count"]),
        )


def quantile_edges(values: np.ndarray) -> tuple[float, ...]:
    """Interior bin edges at the deciles of ``values`` (observed values, duplicates dropped)."""
    if len(values) == 0:
        return ()
    found = np.quantile(values.astype(np.float64), QUANTILES, method="inverted_cdf")
    return tuple(float(e) for e in np.unique(found))


def bin_counts(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """How many of ``values`` fall in each of the ``len(edges) + 1`` bins (bin i: edges[i-1] < v <= edges[i])."""
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), values.astype(np.float64), side="left")
    return np.bincount(index, minlength=len(edges) + 1)


def binned(values: np.ndarray, missing: np.ndarray) -> Binned:
    """The reference distribution of one column: quantile bins of the present values and the missing share."""
    present = values[~missing]
    edges = quantile_edges(present)
    counts = bin_counts(present, edges)
    shares = counts / max(len(present), 1)
    missing_share = float(np.count_nonzero(missing)) / max(len(values), 1)
    return Binned(edges, tuple(float(s) for s in shares), missing_share, len(values))


@dataclass(frozen=True)
class Profile:
    """One version's reference: per input (by ``view:feature`` ref) and for the score."""

    model: str
    version: str
    sha256: str
    rows: int
    holdout_start: str
    inputs: Mapping[str, Binned]
    score: Binned

    def as_record(self) -> dict[str, object]:
        return {
            "model": self.model,
            "version": self.version,
            "sha256": self.sha256,
            "population": "training-set events before the holdout start",
            "rows": self.rows,
            "holdout_start": self.holdout_start,
            "inputs": {ref: b.as_record() for ref, b in self.inputs.items()},
            "score": self.score.as_record(),
        }

    @classmethod
    def of_record(cls, record: Mapping[str, Any]) -> Profile:
        return cls(
            str(record["model"]),
            str(record["version"]),
            str(record["sha256"]),
            int(record["rows"]),
            str(record["holdout_start"]),
            {ref: Binned.of_record(b) for ref, b in record["inputs"].items()},
            Binned.of_record(record["score"]),
        )


def input_column(table: pa.Table, model_input: ModelInput) -> tuple[np.ndarray, np.ndarray]:
    """One input's raw values (bools as 0/1) and where they are missing, from a training set."""
    column = table.column(model_input.name)
    if model_input.dtype is DType.BOOL:
        column = column.cast(pa.int8())
    missing = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    values = np.asarray(column.cast(pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False), dtype=np.float64)
    return values, missing


def build_profile(
    identity: tuple[str, str, str],
    reference: pa.Table,
    inputs: Sequence[ModelInput],
    scores: np.ndarray,
    holdout_start: str,
) -> Profile:
    """The profile of ``identity`` (model, version, sha256) from its reference rows and their scores."""
    model, version, sha256 = identity
    columns = {}
    for model_input in inputs:
        values, missing = input_column(reference, model_input)
        columns[model_input.ref] = binned(values, missing)
    score = binned(scores.astype(np.float64), np.zeros(len(scores), dtype=bool))
    return Profile(model, version, sha256, reference.num_rows, holdout_start, columns, score)


def profile_bytes(profile: Profile) -> bytes:
    """The file's bytes: the same profile gives the same bytes (inputs in spec order)."""
    return (json.dumps(profile.as_record(), indent=2) + "\n").encode()


def read_profile(path: Path, sha256: str | None = None) -> Profile:
    """The profile at ``path``, checked to belong to the version with ``sha256`` when given."""
    if not path.is_file():
        raise UsageError(
            f"{path} does not exist; `mlplat train` writes it, or `mlplat train --profile-only` for a trained version"
        )
    profile = Profile.of_record(json.loads(path.read_text(encoding="utf-8")))
    if sha256 is not None and profile.sha256 != sha256:
        raise UsageError(
            f"{path} profiles sha256 {profile.sha256}, but the spec pins {sha256}; "
            "regenerate it with `mlplat train --profile-only`"
        )
    return profile
