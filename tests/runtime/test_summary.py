"""Huge sizes (issue 9): the summary counts parameters on the meta device, and compile refuses
weights or samples that would not fit in memory before it allocates anything.

A regression here would try to allocate terabytes, so the cases that could allocate run in a
child whose address space is capped (it fails at once instead of waking the OOM killer of a
machine other people share)."""
import json
import random
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from graph import catalogue
from graph.analysis import analyse
from graph.model import Graph
from graph.spec import BuildContext, Make, ShapeContext, ShapeError
from runtime import compile as rc
from runtime import memory
from runtime.compile import CompileError, compile_graph, resolve
from runtime.summary import node_params, summarise
from tests.graphs import mlp_graph
from tests.runtime.test_catalogue_oracle import sample_inputs, sample_params

ROOT = Path(__file__).resolve().parents[2]
BIG = 2**31 - 1
CAP = 4 * 2**30  # torch itself needs ~0.7 GiB of address space


def run_capped(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], cwd=ROOT,
                          preexec_fn=cap, capture_output=True, text=True, timeout=timeout,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("type_id", sorted(catalogue.SPECS))
def test_every_module_is_the_same_on_meta(type_id):
    """Over sampled params, each entry that builds a module builds the same parameters and
    buffers (names, shapes, dtypes, requires_grad) on the meta device as for real."""
    spec = catalogue.get(type_id)
    if spec.build is None:
        return
    rnd = random.Random(type_id)
    made = 0
    for _ in range(200):
        params = sample_params(spec, rnd)
        types, _ = sample_inputs(spec, rnd, params)
        if any(p.check(params[p.name]) for p in spec.params):
            continue
        try:
            outs = spec.shape(ShapeContext("n", params, types, {k: "src" for k in types}))
        except ShapeError:
            continue
        plan = spec.build(BuildContext("n", params, types, outs))
        if not isinstance(plan, Make):
            return  # a function: no parameters (node_params counts 0)
        meta, real = rc.meta_module(plan), resolve(plan.target)(**plan.kwargs)
        for m, r in ((meta.named_parameters(), real.named_parameters()),
                     (meta.named_buffers(), real.named_buffers())):
            m, r = dict(m), dict(r)
            assert m.keys() == r.keys()
            for k in m:
                assert m[k].is_meta and not r[k].is_meta
                assert (m[k].shape, m[k].dtype, m[k].requires_grad) == \
                    (r[k].shape, r[k].dtype, r[k].requires_grad), (type_id, k)
        made += 1
        if made >= 10:
            break
    assert made >= 5, f"{type_id}: only {made} sampled modules"


def test_summary_counts_the_templates_as_before():
    from graph.project import load
    counts = {}
    for name in ("perceptron", "mlp", "cnn"):
        p = load(ROOT / "templates" / f"{name}.json")
        counts[name] = sum(r.params or 0 for r in summarise(p.graph, analyse(p.graph)))
    assert counts == {"perceptron": 3, "mlp": 4482, "cnn": 6090}


def test_summary_counts_a_24_gib_layer_without_allocating():
    r = run_capped("""
        import json, sys, time
        from graph.project import loads
        from graph.analysis import analyse
        from runtime.summary import summarise
        d = json.load(open("templates/mlp.json"))
        d["nodes"][1]["params"]["out_features"] = int(sys.argv[1])
        g = loads(json.dumps(d)).graph
        t = time.perf_counter()
        rows = summarise(g, analyse(g))
        print(json.dumps({"seconds": time.perf_counter() - t,
                          "params": {r.node: r.params for r in rows}}))
    """, str(BIG))
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["params"]["fc1"] == 2 * BIG + BIG and out["params"]["fc2"] == BIG * 64 + 64
    assert out["seconds"] < 1.0


def test_summary_of_sizes_torch_cannot_hold_is_unknown():
    """A 2⁶⁴-float weight: torch cannot even describe it; the row says '?' (None), no raise."""
    g = Graph()
    g.add_node("Input", "x", {"shape": [2**62]})
    g.add_node("Linear", "fc", {"out_features": 4})
    g.connect("x", "out", "fc", "x")
    a = analyse(g)
    assert a.out_type("fc", "y") is not None
    assert node_params(g, a, "fc") is None
    with pytest.raises(CompileError) as e:
        compile_graph(g)
    assert e.value.issues[0].node == "fc"
    assert "Linear 'fc' is too large for torch to build" in str(e.value)


@pytest.fixture
def no_building(monkeypatch):
    """compile must refuse before it builds (allocates) any module."""
    def refuse(*a, **k):
        raise AssertionError("modules were built")
    monkeypatch.setattr(rc, "build_modules", refuse)


def test_compile_refuses_a_layer_that_does_not_fit(monkeypatch, no_building):
    monkeypatch.setattr(memory, "available_memory", lambda: 2**20, raising=False)
    g = mlp_graph((784, 100, 10))  # fc1: 100 × 784 + 100 = 78,500 floats = 306.6 KiB
    g.set_param("fc1", "out_features", 1000)  # 785,000 floats = 3.0 MiB
    with pytest.raises(CompileError) as e:
        compile_graph(g)
    [issue] = e.value.issues
    assert issue.node == "fc1"
    assert issue.message == ("Linear 'fc1' would need 3.0 MiB of weights (1,000 × 784 + 1,000 "
                             "= 785,000 floats); this machine has 1.0 MiB free: lower "
                             "out_features")


def test_compile_refuses_layers_that_do_not_fit_together(monkeypatch, no_building):
    monkeypatch.setattr(memory, "available_memory", lambda: 2 * 2**20, raising=False)
    g = mlp_graph((784, 512, 512, 10))  # 1.5 MiB + 1.0 MiB + 20 KiB
    with pytest.raises(CompileError) as e:
        compile_graph(g)
    [issue] = e.value.issues
    assert issue.node == "fc1"
    assert issue.message.startswith("the model's weights would need 2.6 MiB (Linear 'fc1' "
                                    "1.5 MiB, Linear 'fc2' 1.0 MiB, Linear 'fc3' 20.0 KiB); "
                                    "this machine has 2.0 MiB free")


def test_compile_names_the_input_a_layer_is_too_big_for(monkeypatch, no_building):
    monkeypatch.setattr(memory, "available_memory", lambda: 2**30, raising=False)
    g = mlp_graph((10**9, 16, 10))
    with pytest.raises(CompileError) as e:
        compile_graph(g)
    weights, sample = e.value.issues
    assert str(weights) == ("fc1: Linear 'fc1' would need 59.6 GiB of weights (16 × "
                            "1,000,000,000 + 16 = 16,000,000,016 floats); this machine has "
                            "1.0 GiB free: lower the size of its input from 'x' (in_features = "
                            "1,000,000,000)")
    assert str(sample).startswith("x: Input 'x' gives N × 1000000000: one sample alone would "
                                  "need 3.7 GiB")
    assert str(e.value) == f"{weights} (and 1 more)"


def test_compile_refuses_a_sample_that_does_not_fit(no_building):
    """No weights at all, but one sample of [1e9, 1e9] floats is 3.5 EiB: nothing could feed
    it, and an export's example input would try to allocate it."""
    g = Graph()
    g.add_node("Input", "x", {"shape": [10**9, 10**9]})
    g.add_node("Output", "y")
    g.connect("x", "out", "y", "x")
    with pytest.raises(CompileError) as e:
        compile_graph(g)
    assert str(e.value).startswith("x: Input 'x' gives N × 1000000000 × 1000000000: one sample "
                                   "alone would need 3.5 EiB; this machine has ")


def test_compile_refuses_the_issue_example_with_real_memory():
    """Linear 'fc1' with out_features 2,147,483,647 on 512 inputs: 4 TiB of weights."""
    r = run_capped("""
        import json, sys
        from graph.project import loads
        from runtime.compile import CompileError, compile_graph
        d = json.load(open("templates/mlp.json"))
        d["nodes"][0]["params"]["shape"] = [512]
        d["nodes"][1]["params"]["out_features"] = int(sys.argv[1])
        try:
            compile_graph(loads(json.dumps(d)).graph)
        except CompileError as e:
            print(e)
    """, str(BIG))
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("fc1: Linear 'fc1' would need 4.0 TiB of weights "
                               "(2,147,483,647 × 512 + 2,147,483,647 = 1,101,659,110,911 "
                               "floats); this machine has "), r.stdout
    assert "free: lower out_features (and 1 more)" in r.stdout


def test_available_memory_is_cheap_and_plausible():
    import time
    t = time.perf_counter()
    free = rc.available_memory()
    assert time.perf_counter() - t < 0.05
    assert free is None or 0 <= free < 2**50


def test_compile_still_builds_what_fits():
    torch.manual_seed(0)
    c = compile_graph(mlp_graph((4, 8, 3)))
    assert c.model(torch.randn(2, 4)).shape == (2, 3)


@pytest.mark.parametrize("name", ["resnet", "transformer", "lstm_from_gates"])
def test_a_block_instance_counts_its_inner_layers(name):
    """Issue 25: the summary counted 0 parameters for a block (or a loop's cell)."""
    from pathlib import Path

    from graph.project import load
    from runtime.summary import summarise
    g = load(Path(__file__).resolve().parents[2] / "templates" / f"{name}.json").graph
    rows = summarise(g, analyse(g))
    c = compile_graph(g)
    assert sum(r.params for r in rows) == sum(p.numel() for p in c.modules.parameters())
    blocks = [r for r in rows if r.type.startswith("block:")]
    assert blocks and all(r.params > 0 for r in blocks)


def test_shared_repetitions_count_once_in_the_summary():
    from graph.model import Graph
    from runtime.summary import summarise
    from tests.graphs import basic_block
    g = Graph()
    basic_block(g)
    g.add_node("Input", "img", {"shape": [8, 8, 8]})
    g.add_node("block:basic", "s", {"repeat": 4, "share_weights": True})
    g.connect("img", "out", "s", "x")
    [row] = [r for r in summarise(g, analyse(g)) if r.node == "s"]
    assert row.params == 2 * (8 * 8 * 9) + 2 * (2 * 8)
