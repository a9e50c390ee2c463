"""The floor plan (docs/design.md, "Layout"): data flows one way, devices -> broker -> ingest -> Parquet ->
report, and the import graph says so.  Also the constants that used to disagree between modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from v2x import messages
from v2x.messages import EMERGENCY_VEHICLE_AIDS, RSU_AIDS, VEHICLE_AIDS, MessageType
from v2x.security import pki

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("v2x", "roadside", "vehicles", "pipeline")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for package in PACKAGES for p in (REPO / package).rglob("*.py")}


def top_level_imports(path: Path) -> set[str]:
    """Modules of ours imported when ``path`` is imported (not inside functions, not under
    ``if TYPE_CHECKING``)."""
    found = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in MODULES else node.module)
    return {m for m in found if m.split(".")[0] in PACKAGES}


GRAPH = {name: top_level_imports(path) for name, path in MODULES.items()}


def imports_anywhere(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return names


@pytest.mark.parametrize(
    "package,forbidden",
    [
        ("v2x", ("pipeline", "roadside", "vehicles")),
        ("pipeline", ("roadside", "vehicles")),
        ("roadside", ("pipeline",)),
        ("vehicles", ("pipeline",)),
    ],
)
def test_no_package_imports_against_the_data_flow(package, forbidden):
    """``v2x`` imports none of the other packages; the ingest and report never import a
    simulator; the simulators never import the pipeline (anywhere in a module, not only at the top)."""
    wrong = sorted(
        f"{name} imports {m}"
        for name, path in MODULES.items()
        if name.split(".")[0] == package
        for m in imports_anywhere(path)
        if m.split(".")[0] in forbidden
    )
    assert wrong == []


def test_the_module_import_graph_has_no_cycle():
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH.get(v, ()):
            if w not in GRAPH:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert cycles == []


def test_the_renderers_hold_no_sql():
    """``pipeline/render`` formats a report; the queries are ``pipeline/report``'s and ``pipeline/sql``'s."""
    for name, path in MODULES.items():
        if name.startswith("pipeline.render"):
            assert not {m for m in imports_anywhere(path) if m.startswith(("duckdb", "pipeline.sql"))}, name


def test_every_device_kind_is_granted_the_aids_of_the_message_set():
    """The RSU AIDs were four in the run and six in the PKI, and a benchmark signed SPAT and RSM
    with the AIDs of MAP and RSI; now one list in the message set serves all of them."""
    assert {t.aid for t in (MessageType.MAP, MessageType.SPAT, MessageType.RSI, MessageType.RSM)} <= set(RSU_AIDS)
    assert MessageType.BSM.aid in VEHICLE_AIDS and messages.BSM_EVENT_AID in VEHICLE_AIDS
    assert set(VEHICLE_AIDS + EMERGENCY_VEHICLE_AIDS) <= set(pki.CA_ISSUES["pca"])
    assert set(RSU_AIDS + EMERGENCY_VEHICLE_AIDS) <= set(pki.CA_ISSUES["aca"])
    from benches.synthetic_run import RSU_STREAMS

    assert all(MessageType(msg_type).aid == aid for msg_type, _, aid in RSU_STREAMS)
