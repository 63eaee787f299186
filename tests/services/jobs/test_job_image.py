"""The Spark job image: built on the application's release, from the lock, handed back to hadoop."""

from __future__ import annotations

from pathlib import Path

from infra.materialization import EMR_RELEASE_LABEL
from mlplat.offline.emr import JOB_PYTHON
from services.jobs.materialize_spark import DEFAULT_REGISTRY_CA
from tests.image_contents import WITH_EVERY_VENV, canonical, closure, imported_but_not_installed, lock, packages

REPO = Path(__file__).resolve().parents[3]
DOCKERFILE = REPO / "services" / "jobs" / "Dockerfile"
PACKAGES = REPO / "services" / "jobs" / "packages.txt"
#: What the EMR base image's Spark puts on the driver's and executors' PYTHONPATH.
FROM_THE_BASE_IMAGE = {"pyspark", "py4j"}
#: Imported only when installed, and not needed (each import is guarded): httpx decodes
#: Brotli bodies and offers its ``httpx`` command (click) when it can, pyarrow pickles with
#: cloudpickle when it is there, redis reports to OpenTelemetry with its ``otel`` extra.
OPTIONAL_IMPORTS = {"brotli", "_brotli", "click", "cloudpickle", "opentelemetry"}


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    # Continuation lines joined, runs of blanks made one: each instruction as one plain line.
    lines = [" ".join(line.split()) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [(line.split(" ", 1)[0], line.split(" ", 1)[1]) for line in lines if " " in line]


def _packages() -> list[str]:
    return packages(PACKAGES)


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
    pins = lock(REPO)
    missing = [name for name in _packages() if canonical(name) not in pins]
    assert missing == [], f"not pinned in requirements.txt: {missing}"
    assert not {canonical(name) for name in _packages()} & FROM_THE_BASE_IMAGE


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
    installed = closure(_packages()) | FROM_THE_BASE_IMAGE | {"mlplat"} | WITH_EVERY_VENV
    missing = imported_but_not_installed(REPO, modules, installed, OPTIONAL_IMPORTS)
    assert missing == {}, f"imported by the jobs but not installed in the job image: {sorted(missing)}"


def test_the_image_copies_only_the_library_and_the_jobs() -> None:
    copies = [argument for op, argument in _instructions() if op == "COPY"]
    assert "mlplat ./mlplat" in copies
    assert "services/jobs ./services/jobs" in copies
    assert not [c for c in copies if c.startswith(("services ", "infra"))]
