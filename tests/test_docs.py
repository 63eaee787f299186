"""The docs against the code: what README.md and docs/ tell a new engineer to type must work.

* every ``mlplat`` / ``mlplat-serve`` command line they show (in code blocks and inline
  code), and every one an error message or docstring of the code suggests, parses with
  the real command line: its commands exist, its options exist and take what is given;
* every repository path they name exists;
* every ``MLPLAT_*`` variable they name is read by the code (a settings class, a
  command-line option, a hand-read environment, a deploy workflow), and every variable
  the code reads is documented.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from typer._click.exceptions import BadOptionUsage, MissingParameter, UsageError
from typer.core import TyperGroup, TyperOption

from mlplat.cli import app as mlplat_app
from mlplat.errors import MlplatError
from mlplat.local_platform import LocalSettings
from services.cli import app as serve_app
from services.feature_server.settings import Settings as FeatureSettings
from services.identity import IdentitySettings
from services.jobs.materialize_spark import settings_from_env
from services.model_server.settings import Settings as ModelSettings
from services.settings import EnvironmentSettings

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
SOURCES = sorted(path for package in ("mlplat", "services", "infra") for path in (REPO / package).rglob("*.py"))
PROGRAMS = {"mlplat": typer.main.get_command(mlplat_app), "mlplat-serve": typer.main.get_command(serve_app)}

#: Variables the deploy stacks set for the people who read a pod's or a job run's
#: environment, and that no code reads on purpose.
FOR_PEOPLE_ONLY = {"MLPLAT_ENVIRONMENT"}


@dataclass(frozen=True)
class Shown:
    """One command line as a doc or the code shows it."""

    where: str
    words: tuple[str, ...]
    environment: tuple[tuple[str, str], ...] = ()
    """The ``VARIABLE=value`` words before the program."""
    runnable: bool = False
    """In a fenced block: meant to be pasted as it stands, not prose naming a command."""

    def __str__(self) -> str:
        return f"{self.where}: {' '.join(self.words)}"


def _code_spans(text: str, *, blocks: bool = True) -> Iterator[tuple[int, str, bool]]:
    """(line, text, fenced) of each inline code span, and of each line of a fenced block (with ``blocks``)."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif fenced:
            if blocks:
                yield number, line, True
        else:
            yield from ((number, span, False) for span in re.findall(r"`([^`\n]+)`", line))


def _joined(spans: Iterator[tuple[int, str, bool]]) -> Iterator[tuple[int, str, bool]]:
    """Shell lines with their continuations (a trailing backslash) joined, comments dropped."""
    pending: tuple[int, str] | None = None
    for number, span, fenced in spans:
        line = re.sub(r"\s#\s.*$", "", span).rstrip()
        start, text = (pending[0], f"{pending[1]} {line}") if pending else (number, line)
        pending = (start, text[:-1]) if text.endswith("\\") and not text.endswith("\\|") else None
        if pending is None:
            yield start, text, fenced


def _command_lines(path: Path) -> Iterator[Shown]:
    for number, line, fenced in _joined(_code_spans(path.read_text(encoding="utf-8"))):
        # `a && b`, `a; b`, `(cd x && b)`; `features | models` (a table's "or") starts no command.
        for part in re.split(r"&&|;|\\?\||[()]", line):
            text = re.sub(r"<[^>]*>|\{[^}]*\}", "PLACEHOLDER", part.strip())
            try:
                words = shlex.split(text)
            except ValueError:
                words = text.split()
            environment = []
            while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
                name, _, value = words.pop(0).partition("=")  # VARIABLE=value before the program
                environment.append((name, value))
            if words and words[0].removeprefix(".venv/bin/") in PROGRAMS:
                program = words[0].removeprefix(".venv/bin/")
                where = f"{path.relative_to(REPO)}:{number}"
                yield Shown(where, (program, *words[1:]), tuple(environment), fenced and path.suffix == ".md")


SHOWN = [shown for path in [*DOCS, *SOURCES] for shown in _command_lines(path)]


def _placeholder(word: str) -> bool:
    return bool(re.fullmatch(r"[A-Z][A-Z0-9_]*", word)) or "$" in word or "PLACEHOLDER" in word


def _parse(command: typer.core.TyperCommand, name: str, args: list[str]) -> None:
    try:
        command.make_context(name, list(args))
    except MissingParameter:
        pass  # prose names a command without its arguments: `mlplat train`
    except BadOptionUsage as error:
        if not (args and args[-1].startswith("--") and "requires an argument" in str(error)):
            raise  # prose names an option without its value: `mlplat monitor --metrics-file`
    except UsageError:
        if not any(_placeholder(a) for a in args):
            raise
        # `--seed N`: a placeholder stands for a value of the option's type.
        command.make_context(name, ["1" if _placeholder(a) else a for a in args])


@pytest.mark.parametrize("shown", SHOWN, ids=str)
def test_each_command_line_shown_parses_with_the_real_command_line(shown: Shown) -> None:
    command = PROGRAMS[shown.words[0]]
    args = [word.strip("[]") for word in shown.words[1:] if word.strip("[]")]  # `[--view V]`: optional
    path = [shown.words[0]]
    while isinstance(command, TyperGroup) and args and not args[0].startswith("-"):
        assert args[0] in command.commands, f"{shown}: {' '.join(path)} has no command {args[0]!r}"
        command = command.commands[args[0]]
        path.append(args.pop(0))
    if isinstance(command, TyperGroup):
        return  # a group named in prose: `mlplat registry`
    try:
        _parse(command, " ".join(path), args)
    except UsageError as error:
        pytest.fail(f"{shown}: {error.format_message()}")


SERVICES = [
    s for s in SHOWN if s.runnable and s.words[:2] in {("mlplat-serve", "features"), ("mlplat-serve", "models")}
]


@pytest.mark.parametrize("shown", SERVICES, ids=str)
def test_each_service_command_shown_has_the_environment_it_needs_to_start(
    shown: Shown, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service verifies callers unless told otherwise: a pasted command must say against which issuer."""
    for name in [name for name in os.environ if name.startswith("MLPLAT_")]:
        monkeypatch.delenv(name)
    for name, value in shown.environment:
        monkeypatch.setenv(name, value)
    try:
        IdentitySettings.from_environment()
    except MlplatError as error:
        pytest.fail(f"{shown}: {error}")


def test_the_command_lines_are_found() -> None:
    """The extraction itself: the README's command lines are among those checked."""
    readme = {" ".join(s.words) for s in SHOWN if s.where.startswith("README.md")}
    assert "mlplat plan --stack prod --base main" in readme
    assert "mlplat-serve decisions --caller checkout_api" in readme
    assert "mlplat-serve decisions --id PLACEHOLDER" in readme
    assert any(s.where.startswith("docs/feature-server.md") for s in SERVICES)


# --- paths ------------------------------------------------------------------------------

TOP_LEVEL = (
    "mlplat/",
    "services/",
    "infra/",
    "specs/",
    "tests/",
    "docs/",
    "benchmarks/",
    "models/",
    ".github/",
    ".ci/",
)
#: Names that look like paths but are not files: container images, the Prometheus
#: namespace of metrics, the spec apiVersion.
NOT_PATHS = {"mlplat/feature-server", "mlplat/ModelServer", "mlplat/v1"}


def _named_paths() -> Iterator[tuple[str, str]]:
    for doc in DOCS:
        # Inline code only: fenced blocks hold diagrams and example output (`specs/models/risk.yaml:38:7: error`).
        for number, span, _ in _code_spans(doc.read_text(encoding="utf-8"), blocks=False):
            for word in span.split():
                path = re.sub(r"[:#].*$", "", word.strip("(),;\"'"))
                if path.startswith(TOP_LEVEL) and not re.search(r"[<>*${}\[\]]", path) and path not in NOT_PATHS:
                    yield f"{doc.relative_to(REPO)}:{number}", path


def test_every_repository_path_the_docs_name_exists() -> None:
    missing = [f"{where}: {path}" for where, path in _named_paths() if not (REPO / path).exists()]
    assert not missing, "\n".join(missing)


# --- variables --------------------------------------------------------------------------

VARIABLE = re.compile(r"\bMLPLAT_[A-Z0-9_]*[A-Z0-9]\b")


class _Recording(Mapping[str, str]):
    """An environment that has every variable (``"1"``) and remembers which were read."""

    def __init__(self) -> None:
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return "1"

    def get(self, name: str, default: object = None) -> str:  # type: ignore[override]
        return self[name]

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _settings_variables() -> set[str]:
    names = set()
    for kind in (FeatureSettings, ModelSettings, IdentitySettings):
        assert issubclass(kind, EnvironmentSettings)
        for name, field in kind.model_fields.items():
            names.add(kind.variable(name))
            choices = getattr(field.validation_alias, "choices", ())
            names.update(str(choice) for choice in choices if str(choice).isupper())
    return names


def _option_variables() -> set[str]:
    def walk(command: object) -> Iterator[str]:
        for param in getattr(command, "params", []):
            if isinstance(param, TyperOption) and isinstance(param.envvar, str):
                yield param.envvar
        for child in getattr(command, "commands", {}).values():
            yield from walk(child)

    return {name for program in PROGRAMS.values() for name in walk(program)}


def _hand_read_variables() -> set[str]:
    """What the local platform and the Spark job read from their environment, by reading it."""
    local, job = _Recording(), _Recording()
    LocalSettings.from_environment(REPO, local)
    settings_from_env(job)
    return local.read | job.read


def _workflow_variables() -> set[str]:
    workflows = (REPO / ".github" / "workflows").glob("*.yml")
    return {m for path in workflows for m in re.findall(r"vars\.(MLPLAT_[A-Z0-9_]+)", path.read_text())}


def _read_by_the_code() -> set[str]:
    return {name for name in _settings_variables() | _option_variables() | _hand_read_variables() if "MLPLAT_" in name}


def _documented() -> dict[str, str]:
    found: dict[str, str] = {}
    for doc in DOCS:
        for number, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            for name in VARIABLE.findall(line):
                found.setdefault(name, f"{doc.relative_to(REPO)}:{number}")
    return found


def test_every_variable_the_docs_name_is_read_by_something() -> None:
    known = _read_by_the_code() | _workflow_variables() | FOR_PEOPLE_ONLY
    unread = [f"{where}: {name}" for name, where in sorted(_documented().items()) if name not in known]
    assert not unread, "no code reads:\n" + "\n".join(unread)


def test_every_variable_the_code_reads_is_documented() -> None:
    assert sorted(_read_by_the_code() - set(_documented())) == []


def test_the_variable_readers_are_found() -> None:
    """The collection itself: each kind of reader contributes what it is known to read."""
    assert {"MLPLAT_STORE_RETRY_SECONDS", "MLPLAT_MODELS", "MLPLAT_AUTH_ISSUER"} <= _settings_variables()
    assert "MLPLAT_DECISION_LOG" in _option_variables()
    assert {"MLPLAT_STATE_DIR", "MLPLAT_REGISTRY_PORT"} <= _hand_read_variables()
    assert "MLPLAT_DEPLOY_RUNNER" in _workflow_variables()
