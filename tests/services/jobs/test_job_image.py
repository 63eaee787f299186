"""The Spark job image: built on the application's release, from the lock, handed back to hadoop."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from infra.materialization import EMR_RELEASE_LABEL
from mlplat.offline.emr import JOB_PYTHON
from services.jobs.materialize_spark import DEFAULT_REGISTRY_CA

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO / "services" / "jobs" / "Dockerfile"
PACKAGES = REPO / "services" / "jobs" / "packages.txt"
#: What the EMR base image's Spark puts on the driver's and executors' PYTHONPATH.
FROM_THE_BASE_IMAGE = {"pyspark", "py4j"}
#: Imported only when installed, and not needed (each import is guarded): httpx decodes
#: Brotli bodies and offers its ``httpx`` command (click) when it can, pyarrow pickles with
#: cloudpickle when it is there, redis reports to OpenTelemetry with its ``otel`` extra.
OPTIONAL_IMPORTS = {"brotli", "_brotli", "click", "cloudpickle", "opentelemetry"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    # Continuation lines joined, runs of blanks made one: each instruction as one plain line.
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [(line.split(" ", 1)[0], line.split(" ", 1)[1]) for line in lines if " " in line]


def _packages() -> list[str]:
    lines = PACKAGES.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[_canonical(name.split("[")[0])] = version.split()[0]
    return pins


def test_the_base_image_is_the_applications_release() -> None:
    (base,) = [argument for op, argument in _instructions() if op == "FROM"]
    assert base == f"public.ecr.aws/emr-serverless/spark/{EMR_RELEASE_LABEL}:latest"


def test_root_only_while_building_and_hadoop_at_the_end() -> None:
    users = [argument for op, argument in _instructions() if op == "USER"]
    assert users[0] == "root"
    assert users[-1] == "hadoop:hadoop"


def test_python_3_11_is_the_interpreter_the_jobs_name() -> None:
    runs = " ".join(argument for op, argument in _instructions() if op == "RUN")
    assert "dnf install -y python3.11" in runs
    venv = JOB_PYTHON.removesuffix("/bin/python")
    assert f"python3.11 -m venv {venv}" in runs
    environment = " ".join(argument for op, argument in _instructions() if op == "ENV")
    assert f"PYSPARK_PYTHON={JOB_PYTHON}" in environment.split()


def test_the_rds_ca_bundle_is_where_the_job_looks_for_it() -> None:
    runs = " ".join(argument for op, argument in _instructions() if op == "RUN")
    assert f"-o {DEFAULT_REGISTRY_CA} https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem" in runs


def test_packages_install_at_the_locks_versions_and_leave_spark_to_the_base_image() -> None:
    runs = [argument for op, argument in _instructions() if op == "RUN"]
    assert any("--constraint requirements.txt --requirement packages.txt" in run for run in runs)
    lock = _lock()
    missing = [name for name in _packages() if _canonical(name) not in lock]
    assert missing == [], f"not pinned in requirements.txt: {missing}"
    assert not {_canonical(name) for name in _packages()} & FROM_THE_BASE_IMAGE


def _closure(names: list[str]) -> set[str]:
    seen: set[str] = set()
    pending = [_canonical(name) for name in names]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.distribution(name).requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(_canonical(requirement.name))
    return seen


def test_the_jobs_import_only_what_the_image_installs() -> None:
    """Both job scripts, and what they import lazily on AWS (Spark, secrets, stores, remote write)."""
    modules = (
        "services.jobs.materialize_spark",
        "services.jobs.monitor_spark",
        "mlplat.offline.spark_engine",
        "mlplat.online_store.connect",
        "mlplat.registry",
        "mlplat.monitoring.remote_write",
        "pyspark.sql",
        "boto3",
        "botocore.auth",
        "pymysql",
        "redis",
    )
    probe = "; ".join(f"import {module}" for module in modules)
    probe += "; import sys, json; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    allowed = _closure(_packages()) | FROM_THE_BASE_IMAGE | {"mlplat", "pip", "setuptools"}
    owners = metadata.packages_distributions()
    missing = {
        module: owners[module]
        for module in json.loads(result.stdout)
        if module in owners and module not in OPTIONAL_IMPORTS and not {_canonical(d) for d in owners[module]} & allowed
    }
    assert missing == {}, f"imported by the jobs but not installed in the job image: {sorted(missing)}"


def test_the_image_copies_only_the_library_and_the_jobs() -> None:
    copies = [argument for op, argument in _instructions() if op == "COPY"]
    assert "mlplat ./mlplat" in copies
    assert "services/jobs ./services/jobs" in copies
    assert not [c for c in copies if c.startswith(("services ", "infra"))]
