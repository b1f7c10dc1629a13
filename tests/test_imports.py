"""The import rules of the package (issue 18), read from the source with ``ast``.

Every import counts: at module level, inside a function, or under ``TYPE_CHECKING``.

- Each module belongs to a stage; a module imports only from its own stage or lower ones.
- ``hooks/`` is the wire layer: it imports nothing from the case model, the terminology or the
  engine (their shared words are in ``vocabulary``).
- No import cycle between files.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

import cds_service
from cds_service.hooks.services import SERVICES
from cds_service.vocabulary import SERVICE_IDS
from cds_service.vocabulary import Hook

PACKAGE = Path(cds_service.__file__).parent

STAGES: tuple[tuple[str, ...], ...] = (
    # 0: words and settings every stage may use
    ("cds_service", "cds_service.vocabulary", "cds_service.identifiers", "cds_service.uuids",
     "cds_service.jsonio", "cds_service.settings", "cds_service.openapi_bodies"),
    # 1: logging and metrics (the rest of operations/ is listed in stage 10)
    ("cds_service.operations", "cds_service.operations.logs", "cds_service.operations.metrics"),
    # 2: FHIR plumbing and value sets
    ("cds_service.fhir", "cds_service.terminology"),
    # 3: the CDS Hooks wire layer: models, parsing, prefetch, errors, service definitions
    ("cds_service.hooks",),
    # 4: the case model
    ("cds_service.case",),
    # 5: the engine and its content
    ("cds_service.guidelines",),
    # 6: cards, the feedback store and ledger, caller authentication
    ("cds_service.cards", "cds_service.feedback", "cds_service.auth"),
    # 7: the clinical half of a call and the stages it reports
    ("cds_service.guidance", "cds_service.stages"),
    # 8: the pipeline
    ("cds_service.pipeline",),
    # 9: its callers: the service registry and its call log, the offline review, the validation
    # over the scenarios
    ("cds_service.registry", "cds_service.calllog", "cds_service.evaluate",
     "cds_service.scenarios", "cds_service.validation"),
    # 10: HTTP views and the JWT guard in front of them (both read the app's state), the app and
    # the processes serving it
    ("cds_service.state", "cds_service.hooks.blueprint", "cds_service.auth.guard",
     "cds_service.web", "cds_service.openapi",
     "cds_service.app", "cds_service.cli", "cds_service.operations.health",
     "cds_service.operations.admin", "cds_service.operations.prefork",
     "cds_service.operations.gunicorn_config", "cds_service.operations.gunicorn_logging",
     "cds_service.operations.gunicorn_metrics", "cds_service.operations.front"),
)
"""The stages, lowest first; a module is in the stage of its longest listed prefix."""

WIRE_FORBIDDEN = ("cds_service.guidelines", "cds_service.case", "cds_service.terminology")
"""What ``hooks/`` never imports."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imported(name: str, path: Path) -> set[str]:
    """The package's modules that ``name`` imports (a name imported from a module counts as the
    module, or as the submodule when it is one)."""
    modules = _modules()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            while target not in modules and "." in target:
                target = target.rpartition(".")[0]
            if target in modules and target != name:
                found.add(target)
    return found


@cache
def _graph() -> dict[str, frozenset[str]]:
    return {name: frozenset(_imported(name, path)) for name, path in _modules().items()}


def _stage(module: str) -> int:
    """The stage of ``module``'s longest listed prefix (the package name matches only itself);
    -1 when none is listed."""
    best = (-1, -1)
    for rank, prefixes in enumerate(STAGES):
        for prefix in prefixes:
            below = prefix != PACKAGE.name and module.startswith(f"{prefix}.")
            if (module == prefix or below) and len(prefix) > best[0]:
                best = (len(prefix), rank)
    return best[1]


def test_every_module_has_a_stage() -> None:
    assert [module for module in _graph() if _stage(module) < 0] == []


def test_no_module_imports_from_a_higher_stage() -> None:
    upward = sorted(
        f"{source} (stage {_stage(source)}) imports {target} (stage {_stage(target)})"
        for source, targets in _graph().items() for target in targets
        if _stage(target) > _stage(source)
    )
    assert upward == []


def test_the_wire_layer_imports_no_case_terminology_or_engine() -> None:
    crossing = sorted(
        f"{source} imports {target}"
        for source, targets in _graph().items() if source.startswith("cds_service.hooks")
        for target in targets if target.startswith(WIRE_FORBIDDEN)
    )
    assert crossing == []


def test_the_vocabulary_imports_nothing_of_the_service() -> None:
    assert _graph()["cds_service.vocabulary"] == frozenset()


def test_the_vocabulary_names_the_services_the_wire_layer_declares() -> None:
    assert {service.id for service in SERVICES} == SERVICE_IDS
    assert sorted(service.hook for service in SERVICES) == sorted(Hook)


def _cycles(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_files() -> None:
    assert _cycles(dict(_graph())) == []


@pytest.mark.parametrize(("graph", "cycles"), [
    ({"a": frozenset({"b"}), "b": frozenset({"a"})}, [["a", "b"]]),
    ({"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset()}, []),
    ({"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset({"a"})},
     [["a", "b", "c"]]),
])
def test_the_cycle_finder_finds_cycles(graph: dict[str, frozenset[str]],
                                       cycles: list[list[str]]) -> None:
    assert _cycles(graph) == cycles


def test_imports_are_read_inside_functions_and_under_type_checking() -> None:
    """The rules see every import: the engine reads its rule table, the spool its entry."""
    graph = _graph()
    assert "cds_service.guidelines.rules" in graph["cds_service.guidelines.engine"]
    assert "cds_service.app" in graph["cds_service.cli"]  # imported in a function only
    assert "cds_service.guidelines.engine" not in graph["cds_service.guidelines.rules.ilms"]
