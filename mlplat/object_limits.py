"""What AWS and Kubernetes accept as the size of an object that carries spec content, and as a tag.

Names have their table in :mod:`mlplat.name_limits`; this module holds the other limits a
deploy depends on where a spec value flows into an object with a size limit: the
catalog slices' ConfigMaps, the SLO rules' Managed Prometheus namespace, Kubernetes
objects and their annotations, and AWS tags. Each :class:`ObjectLimit` says what it
bounds, how much, and the page that states it. Two layers read it:

* ``mlplat validate`` (:mod:`mlplat.deploy_checks`) measures what the specs will make,
  with the functions here, and refuses what would not fit;
* the program's render-time check (:mod:`infra.limits`) measures the rendered resources
  with the same functions against the same limits, and its tests check that both measure
  the same objects alike.

Limits no spec value can reach are not checked by validate: the number of tags on a
resource (the platform sets at most five of AWS's 50), the Alertmanager definition (it
holds only the alert topic's ARN), the scrape configuration, CloudWatch alarms (no spec
text), and Kubernetes label values (spec names, bounded by :mod:`mlplat.name_limits`, and
spec labels, bounded by their type). The render-time check measures the Kubernetes ones
anyway: every object's size, annotations and labels.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ObjectLimit:
    """The most bytes one kind of object may hold."""

    what: str
    max_bytes: int
    doc: str
    """The page stating the limit."""

    def problem(self, size: int) -> str | None:
        """Why ``size`` bytes do not fit (``None``: they do)."""
        if size <= self.max_bytes:
            return None
        return f"{self.what} is {size:,} bytes, over the {self.max_bytes:,} it may hold ({self.doc})"


#: A ConfigMap's ``data`` holds at most 1 MiB
#: (https://kubernetes.io/docs/concepts/configuration/configmap/#motivation); the API server
#: counts each key and its value (``validation.ValidateConfigMap``).
CONFIGMAP_DATA = ObjectLimit(
    "the ConfigMap's data", 1024 * 1024, "https://kubernetes.io/docs/concepts/configuration/configmap/#motivation"
)
#: A request to etcd, and so any Kubernetes object, is at most 1.5 MiB
#: (https://etcd.io/docs/v3.5/dev-guide/limit/: ``--max-request-bytes`` defaults to 1.5 MiB).
KUBERNETES_OBJECT = ObjectLimit("the object", 1536 * 1024, "https://etcd.io/docs/v3.5/dev-guide/limit/")
#: The annotations of one object total at most 256 KiB, keys and values
#: (https://kubernetes.io/docs/concepts/overview/working-with-objects/annotations/#syntax-and-character-set;
#: ``TotalAnnotationSizeLimitB`` in apimachinery).
ANNOTATIONS = ObjectLimit(
    "the object's annotations",
    256 * 1024,
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/annotations/#syntax-and-character-set",
)
#: A rule groups namespace's definition file: "Rule group namespace definition file size",
#: 1 MB, not adjustable (https://docs.aws.amazon.com/prometheus/latest/userguide/AMP_quotas.html).
#: Counted as 10^6 bytes, the smaller reading of MB.
AMP_RULE_NAMESPACE = ObjectLimit(
    "the SLO rule groups namespace",
    1_000_000,
    "https://docs.aws.amazon.com/prometheus/latest/userguide/AMP_quotas.html",
)

#: A Kinesis record holds at most 1 MiB, its data and partition key together
#: (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html); the model
#: server writes one record per decision, keyed by the decision id.
KINESIS_RECORD = ObjectLimit(
    "a decision record", 1024 * 1024, "https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html"
)

#: The key a catalog slice has in its ConfigMap (and its file name in the pod).
CATALOG_CONFIGMAP_KEY = "catalog.json"
#: The longest runbook base URL a stack may configure: the SLO rules are measured with one
#: this long, so a stack's own (shorter) base never makes them larger than validate counted.
MAX_RUNBOOK_BASE_LENGTH = 256


def configmap_data_bytes(data: Mapping[str, str]) -> int:
    """The size the API server counts for a ConfigMap's ``data``: every key and value, in bytes."""
    return sum(len(key.encode()) + len(value.encode()) for key, value in data.items())


def text_bytes(text: str) -> int:
    return len(text.encode())


def object_bytes(manifest: Mapping[str, Any]) -> int:
    """The size of an object as JSON, the form the API server stores."""
    return len(json.dumps(manifest, separators=(",", ":"), ensure_ascii=False, default=str).encode())


def annotation_bytes(annotations: Mapping[str, str]) -> int:
    """Keys and values of an object's annotations, as the API server totals them."""
    return sum(len(key.encode()) + len(str(value).encode()) for key, value in annotations.items())


# --- Kubernetes labels -------------------------------------------------------------------
#: A label value: at most 63 alphanumerics, ``-``, ``_`` or ``.``, starting and ending with an
#: alphanumeric, or empty; a key: the same as a name, after an optional DNS-subdomain prefix
#: and ``/`` (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set).
LABELS_DOC = "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set"
_LABEL_NAME = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
_LABEL_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def label_problems(labels: Mapping[str, str]) -> list[str]:
    """Why the API server would refuse any of ``labels`` (empty: it accepts them all)."""
    problems = []
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        bad_prefix = bool(prefix) and (len(prefix) > 253 or _LABEL_PREFIX.fullmatch(prefix) is None)
        if not name or bad_prefix or _LABEL_NAME.fullmatch(name) is None:
            problems.append(f"label key {key!r} is not a Kubernetes label key ({LABELS_DOC})")
        if _LABEL_NAME.fullmatch(str(value)) is None:
            problems.append(f"label {key}={value!r}: at most 63 letters, digits, '-', '_' or '.' ({LABELS_DOC})")
    return problems


# --- AWS tags ------------------------------------------------------------------------------
#: Tags: keys of 1-128 and values of 0-256 Unicode letters, digits, spaces and ``_ . : / = + - @``;
#: keys never start with ``aws:``; at most 50 tags on one resource
#: (https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html).
TAG_KEY_LENGTH, TAG_VALUE_LENGTH = 128, 256
MAX_TAGS = 50
TAG_DOC = "https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html"
TAG_CHARACTERS = "letters, digits, spaces and _ . : / = + - @"
_TAG_PUNCTUATION = set("_.:/=+-@")


def tag_text(text: str) -> bool:
    """Whether every character of ``text`` may appear in a tag key or value."""
    return all(c.isalnum() or c.isspace() or c in _TAG_PUNCTUATION for c in text)


def tag_value_problem(value: str) -> str | None:
    """Why AWS would refuse ``value`` as a tag value (``None``: it accepts it)."""
    if len(value) > TAG_VALUE_LENGTH or not tag_text(value):
        return f"a tag value is up to {TAG_VALUE_LENGTH} {TAG_CHARACTERS} ({TAG_DOC})"
    return None


def tag_problems(tags: Mapping[str, str]) -> list[str]:
    """Why AWS would refuse any of ``tags``, or that many of them (empty: it accepts them all)."""
    problems = []
    if len(tags) > MAX_TAGS:
        problems.append(f"{len(tags)} tags: a resource takes at most {MAX_TAGS} ({TAG_DOC})")
    for key, value in tags.items():
        if not 1 <= len(key) <= TAG_KEY_LENGTH or not tag_text(key) or key.lower().startswith("aws:"):
            problems.append(f"tag key {key!r}: 1-{TAG_KEY_LENGTH} {TAG_CHARACTERS}, not 'aws:...' ({TAG_DOC})")
        value_problem = tag_value_problem(value)
        if value_problem is not None:
            problems.append(f"tag {key}={value!r}: {value_problem}")
    return problems
