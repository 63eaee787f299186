"""What ties a trained version to what made it: the training set's content, the catalog, the libraries, the code.

Recorded in every model card (``metrics.json`` holds it for machines), so a reviewer can
name the data a version learned from and ``mlplat train --verify`` can rebuild it.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlplat.catalog import Catalog
from mlplat.spec.kinds import Framework

PACKAGE = Path(__file__).resolve().parents[1]
_FRAMEWORK_MODULES = {Framework.XGBOOST: "xgboost", Framework.LIGHTGBM: "lightgbm"}


def training_set_digest(table: pa.Table) -> str:
    """sha256 of a table's content: column names, types, nulls and values, whatever its chunking.

    Equal tables give equal digests on any machine (values hashed little-endian as
    stored, strings as UTF-8 with their lengths), so the digest names the exact rows a
    version was trained and evaluated on.
    """
    digest = hashlib.sha256()
    for field, column in zip(table.schema, table.columns, strict=True):
        digest.update(f"{len(field.name)}:{field.name}:{field.type};".encode())
        array = column.combine_chunks()
        digest.update(np.packbits(array.is_null().to_numpy(zero_copy_only=False)).tobytes())
        digest.update(_value_bytes(array))
    return digest.hexdigest()


def _value_bytes(array: pa.Array) -> bytes:
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind):
        texts = [b"" if v is None else v.encode() if isinstance(v, str) else v for v in array.to_pylist()]
        return b"".join(len(v).to_bytes(8, "little") + v for v in texts)
    if pa.types.is_timestamp(kind):
        array = array.cast(pa.int64())
    elif pa.types.is_boolean(kind):
        array = array.cast(pa.int8())
    filled = pc.fill_null(array, pa.scalar(0, array.type))
    values = np.asarray(filled.to_numpy(zero_copy_only=False))
    return bytes(values.astype(values.dtype.newbyteorder("<"), copy=False).tobytes())


#: Parts of a Model spec that say how it serves, not what it learns: left out of its training digest,
#: so pinning the trained artifact (``versions``) does not change the digest recorded with it.
SERVING_ONLY = ("versions", "rollout", "serving")


def training_catalog_digest(catalog: Catalog, model: str) -> str:
    """sha256 of what a model learns from in the catalog: its spec (but :data:`SERVING_ONLY`), views, entities, sources."""
    documents = catalog.subset(models=[model]).to_snapshot()["documents"]
    for document in documents:
        if document["kind"] == "Model":
            document["spec"] = {k: v for k, v in document["spec"].items() if k not in SERVING_ONLY}
    return hashlib.sha256(json.dumps(documents, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def library_versions(framework: Framework) -> dict[str, str]:
    """Versions of what decides a version's bytes and figures: Python, the framework, the data libraries."""
    import duckdb  # noqa: PLC0415 - versions only

    versions = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pyarrow": pa.__version__,
        "duckdb": duckdb.__version__,
    }
    module = __import__(_FRAMEWORK_MODULES[framework])
    versions[_FRAMEWORK_MODULES[framework]] = str(module.__version__)
    return versions


def code_revision(package: Path = PACKAGE) -> str:
    """The git commit of the mlplat code that trained, ``+dirty`` when the package has uncommitted changes.

    ``unknown`` outside a git checkout (an installed package: its version is in the libraries).
    """
    try:
        head = _git(package, "rev-parse", "HEAD")
        changed = _git(package, "status", "--porcelain", "--", ".")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if changed else "")


def _git(where: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, check=True, timeout=10)  # noqa: S603, S607 - fixed git arguments
    return result.stdout.strip()
