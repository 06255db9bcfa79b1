"""The torch.export fallback of the PyTorch importer (issue 26, item 3): models that torch.fx
cannot trace (control flow on shapes, on None, a loop over x.size(1), a config read at call
time) import through torch.export into the same graphs, blocks and checks."""
import json
import subprocess
from pathlib import Path

import pytest
import torch

from runtime.importer import ImportProblem, import_model, parse_input
from runtime.importer.trace import trace
from graph.project import load
from tests.runtime.test_import import LAYERLOOM, ZOO_CASES, _zoo
from tests.zoo import nets_export

ZOO = Path(nets_export.__file__)

# (class, example input, the user classes that must arrive as block definitions)
CASES = [("ShapeBranch", "x=2,5,16", {"Residual"}), ("OptionalMask", "x=2,7,8", set()),
         ("Unrolled", "x=3,4,6", {"Cell"}), ("Configured", "x=2,5,12", set()),
         ("TokensAndFeatures", "tokens=2,5:int64:50 x=2,5,8", set()),
         ("TensorOps", "x=2,5,12", set())]


def _line_of(text: str) -> int:
    return next(i for i, t in enumerate(ZOO.read_text().splitlines(), 1) if text in t)


def _equal_after_reload(tmp_path, imported, model, inputs):
    """The saved project and weights, loaded again and compiled, equal the original (each
    of its results)."""
    from runtime.compile import compile_graph
    from runtime.weights import load_weights
    path, weights = imported.save(tmp_path / "m.json")
    c = compile_graph(load(path).graph)
    load_weights(c.modules, weights)
    xs = [i.example(torch.Generator().manual_seed(7)) for i in inputs]
    with torch.no_grad():
        got, want = c.model.eval()(*xs), model.eval()(*xs)
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    assert len(got) == len(want)
    assert all(torch.allclose(g, w, atol=1e-5) for g, w in zip(got, want))


def _definitions(graph) -> set[str]:
    return {graph.node_type(n)[len("block:"):] for n in graph.nodes()
            if graph.node_type(n).startswith("block:")}


@pytest.mark.parametrize("name, shape, blocks", CASES)
def test_what_fx_cannot_trace_imports_through_torch_export_equal(tmp_path, name, shape,
                                                                 blocks):
    torch.manual_seed(0)
    model = getattr(nets_export, name)().eval()
    inputs = [parse_input(s) for s in shape.split(" ")]
    with pytest.raises(ImportProblem, match="torch.fx cannot trace"):
        trace(model, [i.name for i in inputs])  # the reason for the fallback
    r = import_model(model, inputs)
    assert r.max_abs_diff <= 1e-5
    assert r.summary()["tracer"] == "torch.export" and "traced with torch.export" in r.report()
    defined = {d.split("_")[0] for d in _definitions(r.project.graph)}
    assert defined == blocks and r.blocks == len(blocks)
    _equal_after_reload(tmp_path, r, model, inputs)


def test_blocks_and_weights_arrive_under_the_user_classes_and_torch_names():
    r = import_model(nets_export.ShapeBranch().eval(), [parse_input("x=2,5,16")])
    g = r.project.graph
    inst = sorted(n for n in g.nodes() if g.node_type(n).startswith("block:"))
    assert inst == ["blocks_0", "blocks_1"] and g.node_type("blocks_0") == g.node_type("blocks_1")
    keys = set(r.compiled.modules.state_dict())
    assert {"blocks_0.fc1.weight", "blocks_1.norm.bias", "head.weight"} <= keys
    r = import_model(nets_export.Unrolled().eval(), [parse_input("x=3,4,6")])
    assert {f"cells_{t}.rec.weight" for t in range(4)} <= set(r.compiled.modules.state_dict())


def test_a_model_fx_can_trace_still_goes_through_fx():
    r = import_model(_zoo("MLP"), [parse_input("x=3,4")])
    assert r.summary()["tracer"] == "fx" and "torch.export" not in r.report()


def test_control_flow_on_the_values_is_refused_naming_its_line():
    with pytest.raises(ImportProblem) as e:
        import_model(nets_export.Neither(), [parse_input("x=2,4")])
    msg = str(e.value)
    assert "torch.fx cannot trace" in msg and "torch.export cannot trace the model either" in msg
    assert f"nets_export.py, line {_line_of('if x.sum() > 0')}" in msg
    assert "Traceback" not in msg


def test_an_operation_with_no_node_is_named_with_its_line_under_torch_export():
    with pytest.raises(ImportProblem) as e:
        import_model(nets_export.UnmappedAfterBranch(), [parse_input("x=2,4")])
    msg = str(e.value)
    assert "aten.cumsum" in msg and "has no node" in msg
    assert f"nets_export.py, line {_line_of('torch.cumsum')}" in msg


def test_the_unmapped_operations_are_counted_when_asked():
    from runtime.importer.export_trace import export_trace
    counts: dict = {}
    with pytest.raises(ImportProblem, match="1 operation"):
        export_trace(nets_export.UnmappedAfterBranch(), [parse_input("x=2,4")], counts)
    assert list(counts) == ["aten.cumsum.default"] and len(counts["aten.cumsum.default"]) == 1
    assert f"nets_export.py, line {_line_of('torch.cumsum')}" in counts["aten.cumsum.default"][0]


@pytest.mark.slow
def test_cli_says_which_tracer_and_refuses_without_a_traceback(tmp_path):
    out = tmp_path / "m.json"
    cmd = [str(LAYERLOOM), "import", f"{ZOO}:ShapeBranch", "--input", "x=2,5,16", "--out",
           str(out), "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    figures = json.loads(r.stdout.strip().splitlines()[-1])
    assert figures["tracer"] == "torch.export" and figures["max_abs_diff"] <= 1e-5
    bad = subprocess.run([*cmd[:2], f"{ZOO}:Neither", "--input", "x=2,4", "--out",
                          str(tmp_path / "n.json")], capture_output=True, text=True)
    assert bad.returncode == 2 and f"line {_line_of('if x.sum() > 0')}" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "n.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name, shape, blocks", ZOO_CASES)
def test_the_fx_zoo_imports_equal_through_torch_export_too(monkeypatch, name, shape, blocks):
    """Every model of the fx zoo, made to go through torch.export: the same blocks, equal."""
    import runtime.importer.trace as fx_trace

    def refuse(*args, **kwargs):
        raise ImportProblem("torch.fx cannot trace the model: (this test)")
    monkeypatch.setattr(fx_trace, "trace", refuse)
    r = import_model(_zoo(name), [parse_input(shape)])
    assert r.tracer == "torch.export" and r.max_abs_diff <= 1e-5 and r.blocks == blocks
