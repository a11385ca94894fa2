"""The house rules a reader relies on, checked on the source: the import graph of the product code has no circle
(type-only imports included) and data flows one way (jobs → orchestrator → metrics / datasets_io, which never
import each other nor the layers above them; ``iqabench``, the public Python API, sits on top and nothing in the
product imports it); ``make bench`` installs the runtime only."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("iqabench", "jobs", "orchestrator", "metrics", "datasets_io")


def _module_name(path: Path) -> str:
    name = ".".join(path.relative_to(REPO).with_suffix("").parts)
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def import_graph() -> dict[str, set[str]]:
    """Product module → the product modules it imports (anywhere in the file, ``TYPE_CHECKING`` blocks too)."""
    files = {_module_name(f): f for package in PACKAGES for f in (REPO / package).rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            graph[name] |= {t for t in targets if t in files and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_no_import_circle_in_the_product_code():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_planted_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]


@pytest.mark.parametrize(("lower", "forbidden"), [
    ("metrics", ("orchestrator", "jobs", "datasets_io", "iqabench")),
    ("datasets_io", ("orchestrator", "jobs", "metrics", "iqabench")),
    ("orchestrator", ("jobs", "iqabench")),
    ("jobs", ("iqabench",)),
    ("iqabench", ("jobs",)),
])
def test_data_flows_one_way(lower, forbidden):
    wrong = sorted(f"{m} → {t}" for m, targets in import_graph().items() if m.split(".")[0] == lower
                   for t in targets if t.split(".")[0] in forbidden)
    assert wrong == []


def test_make_bench_installs_the_runtime_only():
    plan = subprocess.run(["make", "-B", "-n", "bench"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "pyiqa" not in plan and "[test]" not in plan, plan
