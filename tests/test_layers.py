"""The import contract: data flows one way, and the imports say so.

Every module's imports are read with ``ast`` (top-level, inside functions and under ``TYPE_CHECKING``
alike: a type-only import upward is still a dependency upward). The layers, lowest first:

==========  =====================================================================================
base        the package root, clock, redact, backoff, tasks, state, logs, controls (the commands'
            vocabulary)
planner     the pure scheduler core; imports nothing of the project but its own package, and its core
            (all but the file/terminal edge) only pure standard modules; the text-level purity checks
            (no ``datetime.now``, ``open(``...) stay in ``tests/planner/test_purity.py``
domain      ``kraken/`` | ``devices/`` | ``ops/`` | ``forecast/``: independent of each other
store       ``store/`` (the SQLite file; it knows Kraken's snapshot types, Kraken knows only the
            ``SnapshotStore`` / ``TokenStore`` protocols), ``clock_sanity`` (reads the last time stored)
settings    ``settings.py`` (composes the domain's config models)
mqtt        ``mqtt/``: Home Assistant, the command path, the connection supervisor
wiring      ``daemon.py``, ``plan_inputs.py`` (the builder of the planner's inputs)
app         ``app.py``, ``checks.py``
entry       ``cli.py`` and ``sandbox/`` (the simulated world drives the whole daemon)
==========  =====================================================================================

A module may import its own component and anything in a lower layer; within ``domain`` the components are
independent. No import cycles between modules. A plain ``kraken2mqtt run`` never loads the sandbox or
graphql-core (they are the ``[sandbox]`` extra).

Violations that other work is removing are listed in :data:`ALLOWED` with why; the suite fails on any
violation not listed there and warns about listed ones that are gone, so the list only ever shrinks.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "kraken2mqtt"

#: (layer name, components, components independent of each other). A component is a module or package.
LAYERS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    (
        "base",
        (
            "kraken2mqtt",
            "kraken2mqtt.clock",
            "kraken2mqtt.redact",
            "kraken2mqtt.backoff",
            "kraken2mqtt.tasks",
            "kraken2mqtt.state",
            "kraken2mqtt.logs",
            "kraken2mqtt.controls",
        ),
        False,
    ),
    ("planner", ("kraken2mqtt.planner",), False),
    (
        "domain",
        ("kraken2mqtt.kraken", "kraken2mqtt.devices", "kraken2mqtt.ops", "kraken2mqtt.forecast"),
        True,
    ),
    # The clock gate reads the last time the state store saw (clock_sanity.py).
    ("store", ("kraken2mqtt.store", "kraken2mqtt.clock_sanity"), False),
    ("settings", ("kraken2mqtt.settings",), False),
    ("mqtt", ("kraken2mqtt.mqtt",), False),
    # The daemon and the builder of the planner's inputs (snapshot + devices -> planner model).
    ("wiring", ("kraken2mqtt.daemon", "kraken2mqtt.plan_inputs"), False),
    ("app", ("kraken2mqtt.app", "kraken2mqtt.checks"), False),
    ("entry", ("kraken2mqtt.cli", "kraken2mqtt.sandbox"), False),
)

#: Known violations, (importer, imported) -> why it is still here. Shrink this list; never grow it.
ALLOWED: Mapping[tuple[str, str], str] = {}
#: Known import cycles (as sorted module tuples) -> why.
ALLOWED_CYCLES: Mapping[tuple[str, ...], str] = {}

#: Imported only by the sandbox (the ``[sandbox]`` extra), never loaded by ``kraken2mqtt run``.
SANDBOX_ONLY = ("graphql", "kraken2mqtt.sandbox")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((SRC / ROOT).rglob("*.py"))}


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, *, top_level_only: bool = False) -> set[str]:
    """Every module (project or third party) that ``module`` imports."""
    path = _modules()[module]
    tree = ast.parse(path.read_text(), str(path))
    nodes: Iterable[ast.AST] = tree.body if top_level_only else ast.walk(tree)
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path, node)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in _modules() else target)
    out.discard(module)
    return out


@cache
def _graph() -> dict[str, frozenset[str]]:
    return {m: frozenset(i for i in _imports(m) if i in _modules()) for m in _modules()}


def _component(module: str) -> tuple[int, str]:
    """(layer index, component) of a project module."""
    best: tuple[int, str] | None = None
    for index, (_, components, _) in enumerate(LAYERS):
        for c in components:
            matches = module == c or (c != ROOT and module.startswith(c + "."))
            if matches and (best is None or len(c) > len(best[1])):
                best = (index, c)
    assert best is not None, f"{module} is in no layer: add it to LAYERS in tests/test_layers.py"
    return best


def _violations() -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for module, imported in _graph().items():
        layer, component = _component(module)
        for target in imported:
            t_layer, t_component = _component(target)
            if t_component == component:
                continue
            if t_layer > layer:
                found[(module, target)] = f"{LAYERS[layer][0]} imports the higher {LAYERS[t_layer][0]}"
            elif t_layer == layer and LAYERS[layer][2]:
                found[(module, target)] = f"{component} and {t_component} must be independent"
            elif component == "kraken2mqtt.planner":
                found[(module, target)] = "the planner imports nothing of the project but planner/"
    return found


def _cycles() -> list[tuple[str, ...]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[tuple[str, ...]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                out.append(tuple(sorted(scc)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_every_module_is_in_a_layer() -> None:
    for module in _modules():
        _component(module)


def test_no_new_layer_violations() -> None:
    found = _violations()
    new = {k: v for k, v in found.items() if k not in ALLOWED}
    assert not new, "imports against the layers (see tests/test_layers.py):\n" + "\n".join(
        f"  {a} -> {b}: {why}" for (a, b), why in sorted(new.items())
    )
    stale = sorted(set(ALLOWED) - set(found))
    if stale:
        warnings.warn(
            "fixed, remove from ALLOWED in tests/test_layers.py: "
            + ", ".join(f"{a} -> {b}" for a, b in stale),
            stacklevel=1,
        )


def test_no_new_import_cycles() -> None:
    cycles = _cycles()
    new = [c for c in cycles if c not in ALLOWED_CYCLES]
    assert not new, "import cycles:\n" + "\n".join("  " + " <-> ".join(c) for c in new)
    stale = sorted(set(ALLOWED_CYCLES) - set(cycles))
    if stale:
        warnings.warn(f"fixed, remove from ALLOWED_CYCLES: {stale}", stacklevel=1)


def test_the_commands_vocabulary_and_base_import_nothing_above_base() -> None:
    base = set(LAYERS[0][1])
    for module in base & set(_modules()):
        assert _graph()[module] <= base, f"{module} imports {sorted(_graph()[module] - base)}"


def test_kraken_and_the_store_do_not_import_mqtt() -> None:
    for module, imported in _graph().items():
        if module.startswith(("kraken2mqtt.kraken.", "kraken2mqtt.store.")):
            assert not any(i.startswith("kraken2mqtt.mqtt") for i in imported), module
            if module.startswith("kraken2mqtt.kraken."):
                assert not any(i.startswith("kraken2mqtt.store") for i in imported), module


def test_a_plain_run_never_loads_the_sandbox_or_graphql() -> None:
    """What ``kraken2mqtt run`` loads: the top-level imports reachable from the daemon's entry points
    (``cli`` imports its commands inside functions; ``run`` and ``check-config`` load these)."""
    todo = [
        "kraken2mqtt.cli",
        "kraken2mqtt.app",
        "kraken2mqtt.checks",
        "kraken2mqtt.logs",
        "kraken2mqtt.settings",
    ]
    seen: set[str] = set()
    loaded: dict[str, str] = {}
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for target in _imports(module, top_level_only=True):
            loaded.setdefault(target, module)
            parts = target.split(".")
            for n in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__
                prefix = ".".join(parts[:n])
                if prefix in _modules():
                    todo.append(prefix)
    bad = {t: by for t, by in loaded.items() if t.split(".")[0] == "graphql" or t.startswith(SANDBOX_ONLY[1])}
    assert not bad, f"a plain run would load: {bad}"


def test_the_contract_sees_the_known_imports() -> None:
    """The reader itself works: relative imports resolve, ``from pkg import module`` means the module."""
    graph = _graph()
    assert "kraken2mqtt.controls" in graph["kraken2mqtt.mqtt.command_parse"]
    assert "kraken2mqtt.controls" in graph["kraken2mqtt.kraken.mutations"]
    assert "kraken2mqtt.kraken.capabilities" in graph["kraken2mqtt.kraken.mutations"]
    assert "kraken2mqtt.store.database" in graph["kraken2mqtt.store.sqlite"]


#: The planner's file/terminal edge; every other planner module is the pure core.
PLANNER_EDGE = frozenset({"scenario", "render", "cli", "chart"})
#: What the pure core may import besides planner/ (no clock, I/O, logging or randomness: the text-level
#: checks of the same rule are tests/planner/test_purity.py).
PURE_IMPORTS = frozenset(
    {
        "__future__",
        "bisect",
        "collections",
        "collections.abc",
        "dataclasses",
        "datetime",
        "enum",
        "functools",
        "itertools",
        "math",
        "typing",
        "zoneinfo",
        "pydantic",
    }
)


def test_the_planner_core_imports_only_pure_modules() -> None:
    for module in _modules():
        if not module.startswith("kraken2mqtt.planner.") or module.rsplit(".", 1)[1] in PLANNER_EDGE:
            continue
        outside = {i for i in _imports(module) if not i.startswith("kraken2mqtt.")}
        assert outside <= PURE_IMPORTS, f"{module} imports {sorted(outside - PURE_IMPORTS)}"
