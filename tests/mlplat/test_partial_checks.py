"""A document with shape errors still has its readable references checked, in the same run."""

from __future__ import annotations

from pathlib import Path

from mlplat.loader import validate_directory

SPECS = """\
apiVersion: mlplat/v1
kind: Entity
metadata: {name: applicant}
spec: {joinKey: applicant_id}
---
apiVersion: mlplat/v1
kind: Source
metadata: {name: bureau}
spec: {path: bureau.parquet, timestampField: event_timestamp}
---
apiVersion: mlplat/v1
kind: FeatureView
metadata: {name: profile}
spec:
  entities: [applicant]
  source: bureau
  ttl: 30d
  features:
    - {name: fico_score, dtype: int32}
---
apiVersion: mlplat/v1
kind: Model
metadata: {name: risk}
spec:
  framework: xgboost
  features: [profile:fico, nowhere:x]
  versions:
    - name: v1
      artifact: {uri: risk/v1/model.ubj, sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
      approval: {state: approved}
  rollout: {primary: v1}
  decision: {threshold: 2.5}
---
apiVersion: mlplat/v1
kind: FeatureView
metadata: {name: broken_view}
spec:
  entities: [merchant]
  source: bureaux
  ttl: forever
  features:
    - {name: x, dtype: int32}
"""


def test_shape_errors_and_broken_references_of_the_same_documents_come_in_one_run(tmp_path: Path) -> None:
    (tmp_path / "specs.yaml").write_text(SPECS)
    messages = [f"{d.location.line}: {d}".split(": error: ", 1)[1] for d in validate_directory(tmp_path).errors]
    assert messages == [
        "spec.features[0]: 'profile:fico' does not exist; profile has 'fico_score' (did you mean 'fico_score'?)",
        "spec.features[1]: 'nowhere:x': FeatureView 'nowhere' does not exist; defined: 'profile'",
        "spec.decision.threshold: 2.5 (a number) is out of range: it must be less than 1.0",
        "spec.entities[0]: Entity 'merchant' does not exist; defined: 'applicant'",
        "spec.source: Source 'bureaux' does not exist; defined: 'bureau' (did you mean 'bureau'?)",
        "spec.ttl: 'forever' is not a duration: write a whole number followed by s, m, h, d or w (e.g. '90s', '6h', '30d')",
    ]
