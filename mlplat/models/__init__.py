"""Models: verified artifacts, safe loaders, scoring, explanations and the decision policy."""

from mlplat.models.artifacts import ArtifactError, ArtifactStore, fetch_verified, sha256_hex
from mlplat.models.loading import VersionState, load_version, serving_versions
from mlplat.models.scoring import Explanation, ScoringModel, load_model

__all__ = [
    "ArtifactError",
    "ArtifactStore",
    "Explanation",
    "ScoringModel",
    "VersionState",
    "fetch_verified",
    "load_model",
    "load_version",
    "serving_versions",
    "sha256_hex",
]
