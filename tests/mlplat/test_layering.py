"""Dependencies point down: the mlplat library imports neither the services nor the Pulumi program."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

MLPLAT = Path(__file__).resolve().parents[2] / "mlplat"
FORBIDDEN = ("services", "infra", "pulumi", "pulumi_aws", "pulumi_kubernetes", "pulumi_random")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_no_module_of_mlplat_imports_services_infra_or_pulumi() -> None:
    offending = {
        str(path.relative_to(MLPLAT.parent)): sorted(_imports(path) & set(FORBIDDEN))
        for path in MLPLAT.rglob("*.py")
        if _imports(path) & set(FORBIDDEN)
    }
    assert offending == {}


def test_loading_every_command_of_the_cli_imports_nothing_of_services_or_infra() -> None:
    probe = (
        "import sys, json, typer, mlplat.cli, mlplat.plan.report, mlplat.plan.runner; "
        "typer.main.get_command(mlplat.cli.app); "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = json.loads(
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    )
    assert set(loaded) & set(FORBIDDEN) == set()
