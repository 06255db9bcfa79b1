"""The shape of the source tree (ARCHITECTURE.md, "Layers and their rules"): one place per
layer, checked over the code itself, so that a change that breaks a rule fails here.

- Nothing in runtime/ or app/ names a catalogue type or reads a catalogue parameter by its
  name: they find nodes, ports and parameters by role (graph/spec.py).
- No module over 500 lines.
- Imports go one way (graph <- runtime <- app), and no two modules import each other, even
  through others, at import time.
"""
from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

from graph import catalogue

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("graph", "runtime", "app")
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    """Every module of the project's packages: dotted name -> file."""
    out = {}
    for pkg in PACKAGES:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            parts = f.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = f
    return out


MODULES = _modules()


def _tree(name: str) -> ast.Module:
    return ast.parse(MODULES[name].read_text(encoding="utf-8"), str(MODULES[name]))


# Names in runtime/ and app/ --------------------------------------------------------------------
def _type_names() -> set[str]:
    names = set(catalogue.SPECS)
    for s in catalogue.SPECS.values():
        names |= set(s.replaces)
    return names


def _param_names() -> set[str]:
    return {p.name for s in catalogue.SPECS.values() for p in s.params}


PARAM_READERS = {"params", "resolved", "defaults"}  # Graph.params, NodeSpec.resolved, ...
# Strings that equal a type id but do not name the layer: (module, string, why)
NOT_A_LAYER = {("runtime.compile", "Step"): "the class name fx gives a decoder's step module",
               ("runtime.tryout", "Detections"): "the dataclass of a detector's results"}


def _reads_params(node: ast.AST) -> bool:
    """A call that returns a node's parameters: g.params(n), spec.resolved(...)."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in PARAM_READERS)


def _named_by_name(tree: ast.Module, types: set[str], params: set[str]) -> list[str]:
    """(line, what) for each catalogue type named by a string, and each parameter read by
    its name from a node's parameters (directly, or through a variable holding them)."""
    found = []
    for fn in [tree, *[n for n in ast.walk(tree)
                       if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))]]:
        holders = {t.id for n in ast.walk(fn) if isinstance(n, ast.Assign) and
                   _reads_params(n.value) for t in n.targets if isinstance(t, ast.Name)}
        for n in ast.walk(fn):
            key, base = None, None
            if isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Constant):
                key, base = n.slice.value, n.value
            elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                  and n.func.attr == "get" and n.args and isinstance(n.args[0], ast.Constant)):
                key, base = n.args[0].value, n.func.value
            if key in params and (_reads_params(base) or (isinstance(base, ast.Name)
                                                         and base.id in holders)):
                found.append(f"line {n.lineno}: parameter {key!r} read by name")
    for n in ast.walk(tree):
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in types:
            found.append(f"line {n.lineno}: type {n.value!r} named")
    return sorted(set(found))


def test_runtime_and_app_name_no_catalogue_type_or_parameter():
    types, params = _type_names(), _param_names()
    bad = {}
    for name, f in MODULES.items():
        if name.split(".")[0] in ("runtime", "app"):
            found = [f for f in _named_by_name(_tree(name), types, params)
                     if not any(m == name and f.endswith(f"type {s!r} named")
                                for m, s in NOT_A_LAYER)]
            if found:
                bad[str(f.relative_to(ROOT))] = found
    assert not bad, ("these modules name layers or read their parameters by name; give the "
                     f"port, parameter or spec a role (graph/spec.py) instead: {bad}")


def test_the_guard_sees_a_type_and_a_parameter_named():
    """The check above must find what it looks for (else it would pass on anything)."""
    code = ("def f(g, n):\n    if g.node_type(n) == 'Conv2d':\n        p = g.params(n)\n"
            "        return p['out_channels'], g.spec(n).resolved({})['kernel_size']\n")
    found = _named_by_name(ast.parse(code), _type_names(), _param_names())
    assert found == ["line 2: type 'Conv2d' named",
                     "line 4: parameter 'kernel_size' read by name",
                     "line 4: parameter 'out_channels' read by name"]


# Size ------------------------------------------------------------------------------------------
def test_no_module_is_over_500_lines():
    long = {str(f.relative_to(ROOT)): n for f in MODULES.values()
            if (n := len(f.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"split these along their seams (ARCHITECTURE.md): {long}"


# Imports ---------------------------------------------------------------------------------------
def _imports(name: str, top_level: bool) -> set[str]:
    """The project modules `name` imports: at import time only (module level, not under
    `if TYPE_CHECKING:`), or anywhere in it."""
    tree = _tree(name)
    is_pkg = MODULES[name].name == "__init__.py"
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    nodes = []
    if top_level:
        stack = list(tree.body)
        while stack:
            n = stack.pop()
            if isinstance(n, (ast.Import, ast.ImportFrom)):
                nodes.append(n)
            elif isinstance(n, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(n.test):
                    stack += n.body + n.orelse
            elif isinstance(n, (ast.Try, ast.With)):
                stack += n.body + getattr(n, "orelse", []) + getattr(n, "finalbody", []) + [
                    s for h in getattr(n, "handlers", []) for s in h.body]
    else:
        nodes = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    out = set()
    for n in nodes:
        if isinstance(n, ast.Import):
            targets = [a.name for a in n.names]
        else:
            base = (here[:len(here) - n.level + 1] if n.level else [])
            mod = ".".join(base + ([n.module] if n.module else []))
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod
                       for a in n.names]
        for t in targets:
            while t and t not in MODULES:
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def test_no_import_circle():
    g = nx.DiGraph()
    for name in MODULES:
        g.add_node(name)
        for t in _imports(name, top_level=True):
            # a package's __init__ importing its own modules is how a package is made
            if not (MODULES[name].name == "__init__.py" and t.startswith(name + ".")):
                g.add_edge(name, t)
    circles = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert not circles, f"modules that import each other: {circles}"


def test_layers_import_one_way():
    """graph imports neither runtime nor app; runtime never imports app (not even lazily)."""
    below = {"graph": ("runtime", "app"), "runtime": ("app",), "app": ()}
    bad = []
    for name in MODULES:
        layer = name.split(".")[0]
        for t in _imports(name, top_level=False):
            if t.split(".")[0] in below[layer]:
                bad.append(f"{name} imports {t}")
    assert not bad, bad
