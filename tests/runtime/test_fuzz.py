"""Fuzz the way in (issue 9): mutated project files go through load, check (analysis and the
summary, as `layerloom check` calls them), and compile. The only exceptions allowed are the
project's own (ProjectError from load, CompileError from compile), each with a message; no
file may take 5 s.

The files are seeded mutations of the shipped templates (read, never written) and of small
generated graphs: numbers made huge, negative, zero, fractional, NaN, text or null; integers
too large for a double (401 to 4,000 digits); lists and objects where scalars go; keys
dropped, duplicated or renamed; node types swapped; edges rewired to wrong ports or nodes;
nodes deleted or duplicated; cycles; deep nesting; unicode; huge shapes; damaged text.

A failure prints the seed and case number; LAYERLOOM_FUZZ_SEED=<seed> reruns it, another seed
explores further, LAYERLOOM_FUZZ_CASES=<n> changes how many.
"""
from __future__ import annotations

import copy
import json
import math
import os
import random
import time
from pathlib import Path

import pytest

try:
    import resource
except ImportError:  # not on Windows
    resource = None

from graph import catalogue
from graph.analysis import analyse
from graph.model import Graph, GraphError
from graph.project import Project, ProjectError, load, loads
from runtime import compile as rc
from runtime import memory
from runtime.compile import CompileError, compile_graph
from runtime.summary import summarise
from tests.params import sample_value

ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("LAYERLOOM_FUZZ_SEED", "9"))
CASES = int(os.environ.get("LAYERLOOM_FUZZ_CASES", "2000"))
MAX_SECONDS = 5.0
FREE = 64 * 2**20  # what compile is told is free: it may build that much, never more

TYPES = sorted(catalogue.SPECS)
LAYERS = [t for t in TYPES if catalogue.SPECS[t].role == "layer"]
LOSSES = [t for t in TYPES if catalogue.SPECS[t].role == "loss"]
FLAT = ["Linear", "Linear", "ReLU", "Sigmoid", "Tanh", "LeakyReLU", "Softmax", "Dropout",
        "BatchNorm1d", "Add", "Concat", "Perceptron", "Step"]
IMAGE = ["Conv2d", "Conv2d", "MaxPool2d", "AvgPool2d", "BatchNorm2d", "ReLU", "Flatten",
         "Add", "Concat", "Dropout"]
PORTS = sorted({p.name for s in catalogue.SPECS.values() for p in (*s.inputs, *s.outputs)})
WEIRD_TEXT = ["", " ", "x", "é", "ü_ber", "层", "𝔵", "🧠", "a.b", "a b", "1abc", "class",
              "\u202e", "\u0000", "\ud800", "x" * 300, "../../etc", "NaN", "null"]
HUGE = [2**31 - 1, 2**31, 2**32, 2**53 + 1, 2**62, 2**63 - 1, 2**63, 2**64, 10**12, 10**18,
        10**30, 10**300]
NUMBERS = [0, -1, -2**31, 1, 2, 3, 0.5, -0.5, 1e-9, 1e308, -1e308, 1.0, 2.0, math.nan,
           math.inf, -math.inf, *HUGE]
HUGE_SHAPES = [[10**9, 10**9], [10**12], [2**31 - 1], [2**62], [2**63], [10**30], [10**6] * 3,
               [10**9] * 2000, [1] * 5000, [0], [-1], [], [1, 10**9, 10**9],
               [2**31 - 1, 2**31 - 1]]


# Seeds ---------------------------------------------------------------------------------------

def templates() -> list[dict]:
    return [json.loads((ROOT / "templates" / f"{n}.json").read_text(encoding="utf-8"))
            for n in ("perceptron", "mlp", "cnn", "lstm", "char_lstm", "gan")]


def generated(rnd: random.Random) -> dict:
    """A small graph made through the model's own API: a chain of random layers, sometimes
    a head (Output, Target, loss) and a branch; valid or not, as it comes."""
    g = Graph()
    rank = rnd.choice([1, 1, 2, 3])
    shape = [rnd.randint(1, 12) for _ in range(rank)]
    g.add_node("Input", "x", {"shape": shape, "dtype": rnd.choice(["float32", "float32",
                                                                    "int64"])})
    prev, port = "x", "out"
    made = ["x"]
    fits = FLAT if rank == 1 else IMAGE if rank == 3 else LAYERS
    for i in range(rnd.randint(0, 6)):
        t = rnd.choice(fits if rnd.random() < 0.8 else LAYERS)
        spec = catalogue.SPECS[t]
        params = {p.name: sample_value(p, rnd) for p in spec.params}
        try:
            nid = g.add_node(t, None, params)
        except GraphError:
            continue
        # two wires into a multi port, none into a node without inputs (a Parameter)
        for _ in range(0 if not spec.inputs else 2 if spec.inputs[0].multi else 1):
            src = rnd.choice(made) if rnd.random() < 0.3 else prev
            sport = catalogue.SPECS[g.node_type(src)].outputs[0].name
            try:
                g.connect(src, sport, nid, spec.inputs[0].name)
            except GraphError:
                pass
        made.append(nid)
        prev, port = nid, spec.outputs[0].name
    if rnd.random() < 0.8:
        g.add_node("Output", "out")
        g.connect(prev, port, "out", "x")
    if rnd.random() < 0.6:
        g.add_node("Target", "label", {"shape": rnd.choice([[], shape]),
                                       "dtype": rnd.choice(["int64", "float32"])})
        loss = g.add_node(rnd.choice(LOSSES), "loss")
        lspec = catalogue.SPECS[g.node_type(loss)]
        for p in lspec.inputs:  # a GAN's losses: scores on every port, no target
            if p.role == "target":
                g.connect("label", "out", loss, p.name)
            else:
                g.connect(prev, port, loss, p.name)
    if rnd.random() < 0.2 and len(made) > 2:
        g.set_subnet("part", made[1:3])
    return Project(graph=g, name="generated").to_dict()


# Mutations -----------------------------------------------------------------------------------

def _paths(d, prefix=()):
    """Every (path, value) in a JSON tree, containers included."""
    yield prefix, d
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield from _paths(v, (*prefix, i))


def _set(d, path, value):
    for p in path[:-1]:
        d = d[p]
    d[path[-1]] = value


def _parent(d, path):
    for p in path[:-1]:
        d = d[p]
    return d


def _nodes(d) -> list:
    n = d.get("nodes") if isinstance(d, dict) else None
    return [x for x in n if isinstance(x, dict)] if isinstance(n, list) else []


def _edges(d) -> list:
    e = d.get("edges") if isinstance(d, dict) else None
    return [x for x in e if isinstance(x, dict)] if isinstance(e, list) else []


def _spec(node: dict):
    t = node.get("type")
    t = catalogue.resolve_type(t) if isinstance(t, str) else None
    return catalogue.SPECS[t] if t else None


def m_number(d, rnd):
    """A number (most often a node's param) made huge, negative, zero, fractional, NaN, ..."""
    where = d
    if rnd.random() < 0.7 and _nodes(d):
        where = rnd.choice(_nodes(d)).get("params")
    leaves = [p for p, v in _paths(where) if p and isinstance(v, (int, float))
              and not isinstance(v, bool)]
    if leaves and where is not d:
        _set(where, rnd.choice(leaves), rnd.choice(NUMBERS + ["12", "", None, True, [], {}]))
        return
    leaves = [p for p, v in _paths(d) if p and isinstance(v, (int, float))
              and not isinstance(v, bool)]
    if leaves:
        _set(d, rnd.choice(leaves), rnd.choice(NUMBERS + ["12", "", None, True, [], {}]))


def m_leaf(d, rnd):
    leaves = [p for p, v in _paths(d) if p]
    if leaves:
        _set(d, rnd.choice(leaves), rnd.choice([None, True, 0, -1, 10**30, math.nan, "",
                                                "🧠", [], {}, [1, 2], {"a": 1}]))


def m_drop_key(d, rnd):
    keys = [p for p, _ in _paths(d) if p and isinstance(p[-1], str)]
    if keys:
        p = rnd.choice(keys)
        del _parent(d, p)[p[-1]]


def m_rename_key(d, rnd):
    keys = [p for p, _ in _paths(d) if p and isinstance(p[-1], str)]
    if keys:
        p = rnd.choice(keys)
        parent = _parent(d, p)
        new = rnd.choice([p[-1] + "_", p[-1].upper(), rnd.choice(WEIRD_TEXT), "from", "to",
                          "id", "type", "params", "shape"])
        parent[new] = parent.pop(p[-1])


def m_drop_item(d, rnd):
    lists = [p for p, v in _paths(d) if isinstance(v, list) and v]
    if lists:
        p = rnd.choice(lists)
        lst = _set_get(d, p)
        del lst[rnd.randrange(len(lst))]


def _set_get(d, path):
    for p in path:
        d = d[p]
    return d


def m_duplicate_item(d, rnd):
    lists = [p for p, v in _paths(d) if isinstance(v, list) and v]
    if lists:
        lst = _set_get(d, rnd.choice(lists))
        lst.append(copy.deepcopy(rnd.choice(lst)))


def m_swap_type(d, rnd):
    """Another type in the node's place; its params kept, dropped, or made for the new type."""
    nodes = _nodes(d)
    if nodes:
        n = rnd.choice(nodes)
        n["type"] = rnd.choice(TYPES + TYPES + ["Nope", "linear", "", 3, None])
        spec, r = _spec(n), rnd.random()
        if spec and r < 0.4:
            n["params"] = {p.name: sample_value(p, rnd) for p in spec.params}
        elif r < 0.7:
            n["params"] = {}


def m_node_id(d, rnd):
    nodes = _nodes(d)
    if nodes:
        n = rnd.choice(nodes)
        others = [m.get("id") for m in nodes]
        n["id"] = rnd.choice(WEIRD_TEXT + others)


def m_rewire(d, rnd):
    """An edge end moved: to a real port of another node (wrong kind, cycles, doubled wires),
    or to a port or node that does not exist."""
    edges, nodes = _edges(d), _nodes(d)
    if not edges:
        return
    e = rnd.choice(edges)
    side = rnd.choice(["from", "to"])
    n = rnd.choice(nodes) if nodes else {"id": "x"}
    spec = _spec(n)
    ports = [p.name for p in ((spec.outputs if side == "from" else spec.inputs) if spec else ())]
    if ports and rnd.random() < 0.7:
        e[side] = f"{n.get('id')}.{rnd.choice(ports)}"
        return
    node = rnd.choice([str(n.get("id")), rnd.choice(WEIRD_TEXT)])
    port = rnd.choice(PORTS + ["nope", ""])
    e[side] = rnd.choice([f"{node}.{port}", f"{node}.{port}", node, f"{node}.{port}.z", 7])


def m_add_edge(d, rnd):
    """A wire between random ports: cycles, self loops, kind mismatches, doubled wires."""
    nodes = _nodes(d)
    if len(nodes) < 1 or not isinstance(d.get("edges"), list):
        return
    a, b = rnd.choice(nodes), rnd.choice(nodes)
    sa = catalogue.SPECS.get(catalogue.resolve_type(a.get("type")) or "", None) \
        if isinstance(a.get("type"), str) else None
    sb = catalogue.SPECS.get(catalogue.resolve_type(b.get("type")) or "", None) \
        if isinstance(b.get("type"), str) else None
    op = rnd.choice([p.name for p in sa.outputs]) if sa and sa.outputs else "out"
    ip = rnd.choice([p.name for p in sb.inputs]) if sb and sb.inputs else "x"
    d["edges"].append({"from": f"{a.get('id')}.{op}", "to": f"{b.get('id')}.{ip}"})


def m_cycle(d, rnd):
    """A wire from a later node back into an earlier one (or into itself)."""
    nodes = [n for n in _nodes(d) if _spec(n)]
    if len(nodes) >= 1 and isinstance(d.get("edges"), list):
        i, j = sorted(rnd.randrange(len(nodes)) for _ in range(2))
        late, early = _spec(nodes[j]), _spec(nodes[i])
        if late.outputs and early.inputs:
            d["edges"].append({"from": f"{nodes[j].get('id')}.{late.outputs[0].name}",
                               "to": f"{nodes[i].get('id')}.{rnd.choice(early.inputs).name}"})


def m_delete_node(d, rnd):
    nodes = d.get("nodes")
    if isinstance(nodes, list) and nodes:
        gone = nodes.pop(rnd.randrange(len(nodes)))
        if rnd.random() < 0.5 and isinstance(gone, dict):  # and its wires, as the app would
            gid = str(gone.get("id"))
            d["edges"] = [e for e in _edges(d)
                          if str(e.get("from", "")).split(".")[0] != gid
                          and str(e.get("to", "")).split(".")[0] != gid]


def m_huge_shape(d, rnd):
    """A huge size: an Input's shape, a layer's width, a kernel, a padding, ..."""
    nodes = [n for n in _nodes(d) if isinstance(n.get("params"), dict)]
    if nodes:
        inputs = [n for n in nodes if n.get("type") in ("Input", "Target")]
        n = rnd.choice(inputs) if inputs and rnd.random() < 0.4 else rnd.choice(nodes)
        spec = _spec(n)
        own = [p.name for p in spec.params if p.kind in ("int", "shape", "dims", "padding")] \
            if spec else []
        key = rnd.choice(own) if own and rnd.random() < 0.9 else rnd.choice(
            ["shape", "out_features", "out_channels", "in_features", "kernel_size", "padding"])
        n["params"][key] = rnd.choice(HUGE_SHAPES) if key == "shape" else rnd.choice(HUGE)


def m_resize(d, rnd):
    """A valid but possibly enormous size (log-uniform up to 10¹³): a layer's width, or one
    of an Input's dims. What compile must build, or refuse before building."""
    nodes = [n for n in _nodes(d) if _spec(n) and isinstance(n.get("params"), dict)]
    sized = [(n, p) for n in nodes for p in _spec(n).params
             if p.name in ("out_features", "out_channels", "shape")]
    if sized:
        n, p = rnd.choice(sized)
        size = int(10 ** rnd.uniform(0, 13))
        if p.kind == "shape":
            shape = n["params"].get(p.name)
            shape = list(shape) if isinstance(shape, list) and shape else [1]
            shape[rnd.randrange(len(shape))] = size
            n["params"][p.name] = shape
        else:
            n["params"][p.name] = size


def m_param(d, rnd):
    """A param of the node's type (or of another type) set to a value of any kind."""
    nodes = _nodes(d)
    if not nodes:
        return
    n = rnd.choice(nodes)
    spec = _spec(n) if rnd.random() < 0.85 else catalogue.SPECS[rnd.choice(TYPES)]
    if not spec or not spec.params or not isinstance(n.get("params"), dict):
        return
    p = rnd.choice(spec.params)
    n["params"][p.name] = rnd.choice([sample_value(p, rnd), sample_value(p, rnd), None, "same",
                                      -1, 0, 10**12, 2.5, [], [3, -1], [-1, -1], "🧠", True])


GIANT = [10 ** 400, -10 ** 400, 9 ** 1000, 2 ** 1024, -(2 ** 1100), int("9" * 4000)]
CONTAINERS = [[], {}, [1], [[1]], ["x"], [None], {"a": 1}, {"": []}, [1.5, 2], {"id": 3}]


def _scalars(where) -> list:
    return [p for p, v in _paths(where) if p and not isinstance(v, (dict, list))]


def m_giant_int(d, rnd):
    """An integer too large for a double (401 to 4,000 digits) where a number goes: one of a
    node type's own params (a float param: math.isfinite overflows), or any number."""
    nodes = [n for n in _nodes(d) if _spec(n) and _spec(n).params
             and isinstance(n.get("params"), dict)]
    if nodes and rnd.random() < 0.7:
        n = rnd.choice(nodes)
        n["params"][rnd.choice(_spec(n).params).name] = rnd.choice(GIANT)
        return
    leaves = [p for p, v in _paths(d) if p and isinstance(v, (int, float))
              and not isinstance(v, bool)]
    if leaves:
        _set(d, rnd.choice(leaves), rnd.choice(GIANT))


def m_container(d, rnd):
    """A list or an object where a scalar goes: a param (a Shared network's subnet, a
    kernel size, an activation's choice), a node's id or type, a setting."""
    nodes = [n for n in _nodes(d) if isinstance(n.get("params"), dict)]
    named = [n for n in nodes if _spec(n) and any(p.kind in ("str", "choice")
                                                  for p in _spec(n).params)]
    if named and rnd.random() < 0.4:  # a name or a choice: looked up, hashed, compared
        n = rnd.choice(named)
        p = rnd.choice([p for p in _spec(n).params if p.kind in ("str", "choice")])
        n["params"][p.name] = copy.deepcopy(rnd.choice(CONTAINERS))
        return
    if nodes and rnd.random() < 0.7:
        n = rnd.choice(nodes)
        spec = _spec(n)
        names = [p.name for p in spec.params] if spec and spec.params else list(n["params"])
        if names:
            n["params"][rnd.choice(names)] = copy.deepcopy(rnd.choice(CONTAINERS))
            return
    leaves = _scalars(d)
    if leaves:
        _set(d, rnd.choice(leaves), copy.deepcopy(rnd.choice(CONTAINERS)))


def m_nesting(d, rnd):
    """A value nested 5 to 3,000 deep (written into the text by make_case: json.dumps itself
    stops near 1,000)."""
    leaves = [p for p, _ in _paths(d) if p]
    if leaves:
        _set(d, rnd.choice(leaves), f"__nest_{rnd.choice([5, 50, 500, 990, 3000])}__")


def m_unicode(d, rnd):
    strs = [p for p, v in _paths(d) if p and isinstance(v, str)]
    if strs:
        p = rnd.choice(strs)
        v = _set_get(d, p)
        _set(d, p, rnd.choice([v + rnd.choice(WEIRD_TEXT), rnd.choice(WEIRD_TEXT),
                               v.upper(), v[::-1]]))


def m_subnet(d, rnd):
    ids = [n.get("id") for n in _nodes(d)]
    name = rnd.choice(["g", "part", "generator"]) if rnd.random() < 0.8 else \
        rnd.choice(["", "🧠", "a b"])
    members = rnd.sample(ids, rnd.randint(0, min(len(ids), 4)))
    if rnd.random() < 0.2:
        members += rnd.choice([["ghost"], [None], ids[:1]])
    d["subnets"] = {name: members}


def m_many_nodes(d, rnd):
    """A long chain appended: size, not sense."""
    nodes = d.get("nodes")
    if not isinstance(nodes, list) or not isinstance(d.get("edges", []), list):
        return  # an earlier mutation made them something else: nothing to append to
    k = rnd.choice([50, 300])
    for i in range(k):
        nodes.append({"id": f"z{i}", "type": rnd.choice(["ReLU", "Linear", "Concat", "Add"]),
                      "params": {}})
        if i:
            d.setdefault("edges", []).append({"from": f"z{i - 1}.y", "to": f"z{i}.x"})


# What the graph means (most often), then what the file is made of.
DICT_MUTATIONS = [*[m_number, m_swap_type, m_rewire, m_add_edge, m_cycle, m_delete_node,
                    m_huge_shape, m_param, m_subnet] * 4, *[m_resize] * 12, m_huge_shape,
                  m_huge_shape, m_param, m_param, m_many_nodes, m_many_nodes,
                  m_leaf, m_drop_key, m_rename_key, m_drop_item, m_duplicate_item, m_node_id,
                  m_nesting, m_unicode, *[m_giant_int, m_container] * 3]


def damage_text(text: str, rnd: random.Random) -> str:
    k = rnd.randrange(7)
    if k == 0 and text:
        return text[:rnd.randrange(len(text))]  # cut short
    if k == 1:
        i = rnd.randrange(len(text) + 1)
        return text[:i] + rnd.choice(["{", "]", ",", '"', "\\", "\x00", "🧠", "NaN"]) + text[i:]
    if k == 2:  # a key given twice: the last one wins in JSON
        return text.replace('"id": ', '"id": "dup", "id": ', 1)
    if k == 3:
        return "\ufeff" + text
    if k == 4:
        return text.replace('"format": "layerloom.project"', '"format": "layerloom.projekt"')
    if k == 5:  # beyond Python's 4,300-digit limit on int literals
        return text.replace("1", "9" * rnd.choice([4301, 20000]), 1)
    return text.replace("1", "1e400", 1)  # a float beyond any double: inf


def make_case(i: int, seeds: list[dict]) -> tuple[str | bytes, list[str]]:
    rnd = random.Random(f"{SEED}:{i}")
    d = copy.deepcopy(rnd.choice(seeds)) if rnd.random() < 0.6 else generated(rnd)
    done = []
    for _ in range(rnd.choice([1, 1, 1, 2, 2, 3, 5])):
        m = rnd.choice(DICT_MUTATIONS)
        m(d, rnd)
        done.append(m.__name__)
    text = json.dumps(d, ensure_ascii=rnd.random() < 0.5)
    for depth in (5, 50, 500, 990, 3000):
        opener, closer = ("[", "]") if rnd.random() < 0.5 else ('{"k": ', "}")
        text = text.replace(f'"__nest_{depth}__"', opener * depth + "1" + closer * depth)
    if rnd.random() < 0.1:
        text = damage_text(text, rnd)
        done.append("damage_text")
    if rnd.random() < 0.02:
        done.append("bad_utf8")
        return text.encode("utf-8", "surrogatepass")[:-3] + b"\xff\xfe", done
    return text, done


# The pipeline --------------------------------------------------------------------------------

def run_case(data: str | bytes, path: Path | None) -> str:
    """Load, check, compile; returns how far it got. Raises only on a genuine bug."""
    try:
        if path is not None:
            path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8",
                                                                               "surrogatepass"))
            project = load(path)
        else:
            project = loads(data)
    except ProjectError as e:
        assert str(e) and e.message, "a ProjectError without a message"
        return "refused by load"
    g = project.graph
    analysis = analyse(g)
    rows = summarise(g, analysis)  # what `layerloom check` prints, formatted as it does
    text = [f"{r.node} {r.type} {r.output} {'?' if r.params is None else f'{r.params:,}'}"
            for r in rows]
    text += [str(i) for i in analysis.issues]
    assert all(isinstance(t, str) for t in text)
    if not analysis.ok:
        return "problems found"
    try:
        compile_graph(g)
        for name in g.subnets:
            compile_graph(g, name)
    except CompileError as e:
        assert str(e), "a CompileError without a message"
        return "refused by compile"
    return "compiled"


@pytest.fixture
def capped_memory():
    """While fuzzing, this process may grow by 4 GiB at most: a regression that allocates a
    huge layer fails with MemoryError / RuntimeError instead of waking the OOM killer."""
    if resource is None or not Path("/proc/self/status").exists():
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    status = Path("/proc/self/status").read_text()
    size = int(status.split("VmSize:")[1].split()[0]) * 1024
    cap = size + 4 * 2**30
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def test_fuzz_load_check_compile(tmp_path, monkeypatch, capped_memory):
    monkeypatch.setattr(memory, "available_memory", lambda: FREE, raising=False)
    seeds = templates()
    outcomes: dict[str, int] = {}
    failures = []
    slowest = (0.0, None)
    t_all = time.perf_counter()
    for i in range(CASES):
        data, done = make_case(i, seeds)
        path = tmp_path / f"case{i % 10}.json" if i % 10 == 0 or isinstance(data, bytes) \
            else None
        t = time.perf_counter()
        try:
            outcome = run_case(data, path)
        except Exception as e:  # noqa: BLE001 - anything else is a bug the fuzzer found
            outcome = "BUG"
            if len(failures) < 5:
                shown = data if isinstance(data, str) else data.decode("utf-8", "replace")
                failures.append(f"case {i} (seed {SEED}, {done}): {type(e).__name__}: {e}\n"
                                f"  file: {shown[:600]}")
        dt = time.perf_counter() - t
        slowest = max(slowest, (dt, f"case {i} ({done})"), key=lambda s: s[0])
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    total = time.perf_counter() - t_all
    print(f"\n{CASES} files in {total:.1f} s, slowest {slowest[0]:.3f} s ({slowest[1]}): "
          f"{outcomes}")
    assert not failures, "\n".join(failures)
    assert slowest[0] < MAX_SECONDS, slowest
    # The mutations must reach every stage, not only be refused by the loader.
    for stage in ("refused by load", "problems found", "compiled", "refused by compile"):
        assert outcomes.get(stage, 0) >= CASES // 100, (stage, outcomes)


def test_the_mutator_is_deterministic():
    seeds = templates()
    assert [make_case(i, seeds) for i in range(30)] == [make_case(i, seeds) for i in range(30)]


def test_an_int_literal_over_4300_digits_is_a_project_error():
    text = (ROOT / "templates" / "mlp.json").read_text(encoding="utf-8")
    text = text.replace('"out_features": 64', '"out_features": ' + "9" * 5000, 1)
    with pytest.raises(ProjectError):
        loads(text)


def test_every_param_of_every_template_node_given_a_giant_int_a_list_or_an_object(
        tmp_path, monkeypatch, capped_memory):
    """The new mutation kinds, exhaustively on the seeds: each param of each node of each
    seed template (a Shared network's subnet included) set to a 401-digit integer, a list and
    an object; load, check and compile refuse each with a message, never a traceback."""
    monkeypatch.setattr(memory, "available_memory", lambda: FREE, raising=False)
    failures, outcomes = [], {}
    for seed in templates():
        for i, node in enumerate(_nodes(seed)):
            spec = _spec(node)
            for p in spec.params if spec else ():
                for value in (10 ** 400, -10 ** 400, ["x"], {"a": 1}):
                    d = copy.deepcopy(seed)
                    d["nodes"][i]["params"][p.name] = value
                    try:
                        outcome = run_case(json.dumps(d), None)
                    except Exception as e:  # noqa: BLE001
                        outcome = "BUG"
                        failures.append(f"{seed['name']}: {node['id']}.{p.name} = "
                                        f"{str(value)[:20]}: {type(e).__name__}: {e}")
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert not failures, "\n".join(failures[:10])
    assert outcomes.get("problems found", 0) > 100, outcomes
