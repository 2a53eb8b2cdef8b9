"""Layering: pipeline/domain never imports dagster nor the assets/resources/sensors
packages; nothing imports upward (domain -> resources -> assets -> sensors -> definitions)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "pipeline/domain": {"dagster", "dagster_aws", "dagster_postgres", "assets", "resources", "sensors",
                        "pipeline.definitions", "pipeline.jobs", "pipeline.partitions"},
    "resources": {"assets", "sensors", "pipeline.definitions", "pipeline.jobs"},
    "assets": {"sensors", "pipeline.definitions", "pipeline.jobs"},
    "sensors": {"pipeline.definitions"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_upward_or_framework_imports(layer):
    offenders = []
    files = sorted((ROOT / layer).rglob("*.py"))
    assert files, f"no python files under {layer}"
    for f in files:
        for mod in _imports(f):
            for bad in FORBIDDEN[layer]:
                if mod == bad or mod.startswith(bad + "."):
                    offenders.append(f"{f.relative_to(ROOT)} imports {mod}")
    assert not offenders, "\n".join(offenders)
