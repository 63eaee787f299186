"""The policy pack run the way the Pulumi CLI runs it: a process serving the Analyzer gRPC service.

``pulumi preview --policy-pack infra/policy`` starts ``python -m pulumi.policy <engine>
infra/policy`` in the pack's directory; the pack prints the port of its Analyzer server
(``pulumi.proto``'s ``Analyzer`` service) and the CLI sends it each resource's inputs as a
protobuf ``Struct`` (``Analyze``). :class:`PolicyAnalyzer` does the same without the CLI,
so tests see the pack exactly as the engine does: properties as the analyzer's proxies,
secrets and assets in their wire form, numbers as floats, enforcement levels as served.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, plugin_pb2
from pulumi_policy.deserialize import serialize_properties

PACK_DIR = Path(__file__).resolve().parent
PROJECT = "mlplat"
START_TIMEOUT_SECONDS = 60.0
ENFORCEMENT = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.DISABLED: "disabled",
}


class AnalyzerError(RuntimeError):
    """The policy pack process did not start or did not answer."""


@dataclass(frozen=True)
class Diagnostic:
    """One violation (or preview notice) the pack reported for a resource."""

    policy: str
    urn: str
    message: str
    enforcement: str
    """``mandatory`` blocks the update; ``advisory`` only warns (e.g. a value unknown during preview)."""


def urn(stack: str, resource_type: str, name: str) -> str:
    """The resource's URN as the engine forms it for a top-level resource of the project."""
    return f"urn:pulumi:{stack}::{PROJECT}::{resource_type}::{name}"


def to_struct(inputs: Mapping[str, Any]) -> struct_pb2.Struct:
    """Resource inputs as the ``Struct`` the engine sends: assets and secrets in their signature form."""
    struct = struct_pb2.Struct()
    json_format.ParseDict(serialize_properties(inputs), struct)
    return struct


class PolicyAnalyzer:
    """The pack in ``pack_dir`` served in a child process; use as a context manager."""

    def __init__(self, pack_dir: Path = PACK_DIR, *, stack: str = "dev", dry_run: bool = False) -> None:
        self._pack_dir = pack_dir
        self._stack = stack
        self._dry_run = dry_run
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: grpc.Channel | None = None
        self._stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in __exit__

    def __enter__(self) -> Self:
        env = {**os.environ, "PULUMI_PROJECT": PROJECT, "PULUMI_STACK": self._stack}
        env["PULUMI_DRY_RUN"] = "true" if self._dry_run else "false"
        # The engine address is unused by a policy pack that only validates; the CLI passes its own.
        self._process = subprocess.Popen(  # noqa: S603 - our interpreter, our pack
            [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", str(self._pack_dir)],
            cwd=self._pack_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        port = self._read_port()
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self._stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._channel is not None:
            self._channel.close()
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            if self._process.stdout is not None:
                self._process.stdout.close()
        self._stderr.close()

    def _read_port(self) -> int:
        assert self._process is not None
        assert self._process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=START_TIMEOUT_SECONDS):
                raise AnalyzerError(f"the policy pack printed no port in {START_TIMEOUT_SECONDS:.0f} s{self._log()}")
        line = self._process.stdout.readline().decode().strip()
        if not line.isdigit():
            raise AnalyzerError(f"the policy pack did not start (printed {line!r}){self._log()}")
        return int(line)

    def _log(self) -> str:
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace").strip()
        return f"; its stderr:\n{text}" if text else ""

    @property
    def stub(self) -> analyzer_pb2_grpc.AnalyzerStub:
        """The Analyzer client, for calls beyond :meth:`analyze`."""
        if self._stub is None:
            raise AnalyzerError("PolicyAnalyzer is used outside its `with` block")
        return self._stub

    def info(self) -> analyzer_pb2.AnalyzerInfo:
        """What the pack says about itself: its name and each policy with its enforcement level."""
        info: analyzer_pb2.AnalyzerInfo = self.stub.GetAnalyzerInfo(empty_pb2.Empty())
        return info

    def plugin_version(self) -> str:
        """The pulumi-policy version serving the pack."""
        info: plugin_pb2.PluginInfo = self.stub.GetPluginInfo(empty_pb2.Empty())
        return str(info.version)

    def analyze(self, resource_type: str, name: str, inputs: Mapping[str, Any], *, protect: bool) -> list[Diagnostic]:
        """The pack's diagnostics for one resource, sent as the engine sends it before creating it."""
        request = analyzer_pb2.AnalyzeRequest(
            type=resource_type,
            properties=to_struct(inputs),
            urn=urn(self._stack, resource_type, name),
            name=name,
            options=analyzer_pb2.AnalyzerResourceOptions(protect=protect),
        )
        return self._diagnostics(self.stub.Analyze(request, timeout=30))

    def analyze_stack(self, resources: Sequence[tuple[str, str, Mapping[str, Any], bool]]) -> list[Diagnostic]:
        """The pack's stack-level diagnostics for ``(type, name, properties, protect)`` resources, as the
        engine sends them once an update has run (``AnalyzeStack``)."""
        request = analyzer_pb2.AnalyzeStackRequest(
            resources=[
                analyzer_pb2.AnalyzerResource(
                    type=resource_type,
                    properties=to_struct(properties),
                    urn=urn(self._stack, resource_type, name),
                    name=name,
                    options=analyzer_pb2.AnalyzerResourceOptions(protect=protect),
                )
                for resource_type, name, properties, protect in resources
            ]
        )
        return self._diagnostics(self.stub.AnalyzeStack(request, timeout=60))

    @staticmethod
    def _diagnostics(response: analyzer_pb2.AnalyzeResponse) -> list[Diagnostic]:
        return [
            Diagnostic(d.policyName, d.urn, d.message, ENFORCEMENT.get(d.enforcementLevel, str(d.enforcementLevel)))
            for d in response.diagnostics
        ]
