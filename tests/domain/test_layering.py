"""Layering, proven on the source.

Between the top-level packages: pipeline/domain never imports dagster nor the
assets/resources/sensors packages; nothing imports upward (domain -> resources -> assets ->
sensors -> definitions).

Inside the domain (ARCHITECTURE.md, "Layout"): one package per capability, in this order,
bottom to top. A package may import itself and packages BELOW it only; ``core`` imports
no other domain package and ``flows`` (the per-partition flows behind the assets) sits on
top. Lazy imports inside functions count too. No import cycle between domain modules.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "pipeline" / "domain"
FORBIDDEN = {
    "pipeline/domain": {"dagster", "dagster_aws", "dagster_postgres", "dagster_celery", "dagster_k8s",
                        "assets", "resources", "sensors",
                        "pipeline.definitions", "pipeline.jobs", "pipeline.partitions", "pipeline.settings",
                        "pipeline.cli", "pipeline.demo"},
    "resources": {"assets", "sensors", "pipeline.definitions", "pipeline.jobs"},
    "assets": {"sensors", "pipeline.definitions", "pipeline.jobs"},
    "sensors": {"pipeline.definitions"},
}

#: capability packages of pipeline/domain, bottom to top
DOMAIN_ORDER = ("core", "intake", "speech", "privacy", "search", "insights", "learning", "flows")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            # "from pipeline.domain.search import index" names a module
            out.update(f"{node.module}.{a.name}" for a in node.names if node.module.startswith("pipeline.domain"))
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; use absolute imports")
    return out


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _domain_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(DOMAIN.rglob("*.py"))}


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


def test_domain_is_grouped_by_capability():
    """Every domain module lives in one of the capability packages, each with a docstring
    saying what it owns."""
    stray = [p.name for p in DOMAIN.glob("*.py") if p.name != "__init__.py"]
    assert not stray, f"modules outside a capability package: {stray}"
    found = {p.name for p in DOMAIN.iterdir() if (p / "__init__.py").exists()}
    assert found == set(DOMAIN_ORDER), f"packages {sorted(found)} != documented order {DOMAIN_ORDER}"
    for pkg in DOMAIN_ORDER:
        doc = ast.get_docstring(ast.parse((DOMAIN / pkg / "__init__.py").read_text()))
        assert doc and len(doc.split()) >= 12, f"pipeline/domain/{pkg}/__init__.py needs a docstring saying what it owns"


def _capability(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["pipeline", "domain"] else None


def test_capabilities_import_only_downward():
    rank = {name: i for i, name in enumerate(DOMAIN_ORDER)}
    offenders = []
    for name, path in _domain_modules().items():
        own = _capability(name)
        if own is None:
            continue
        for mod in _imports(path):
            other = _capability(mod)
            if other is None or other not in rank:
                continue
            if rank[other] > rank[own]:
                offenders.append(f"{path.relative_to(ROOT)} ({own}) imports {mod} ({other}, above it)")
    assert not offenders, "\n".join(offenders)


def test_rule_would_catch_an_upward_import(tmp_path):
    """The rule itself can fail: an intake module importing a flow is reported."""
    f = tmp_path / "bad.py"
    f.write_text("from pipeline.domain.flows.common import ready_calls\n")
    mods = _imports(f)
    rank = {name: i for i, name in enumerate(DOMAIN_ORDER)}
    assert any(rank[_capability(m)] > rank["intake"] for m in mods if _capability(m) in rank)


def test_no_import_cycles_in_the_domain():
    modules = _domain_modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for mod in _imports(path):
            # "from pipeline.domain.search import index" -> the module pipeline.domain.search.index
            target = mod if mod in modules else None
            if target and target != name and not name.startswith(target + ".") and not target.endswith(".__init__"):
                if modules[target].name != "__init__.py":
                    graph[name].add(target)
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(u: str, stack: list[str]) -> None:
        state[u] = 1
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                cycles.append(" -> ".join(stack[stack.index(v):] + [v]) if v in stack else f"{u} -> {v}")
            elif v not in state:
                visit(v, stack + [v])
        state[u] = 2

    for m in sorted(modules):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_module_is_a_giant():
    """Modules stay readable: none in pipeline/ over ~1,000 lines."""
    big = {str(p.relative_to(ROOT)): n for p in (ROOT / "pipeline").rglob("*.py")
           if (n := len(p.read_text().splitlines())) > 1000}
    assert not big, f"split these modules along their seams: {big}"
