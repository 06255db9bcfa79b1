"""The generic tensor operations (graph/catalogue/tensor_ops.py, tensor_shape_ops.py): every
function of every table gives torch's numbers on random inputs, the help's hand values hold,
misfits are refused naming the port, a function outside the fixed list is refused, and the
forwards of tests/zoo/nets_ops.py (x - y, x / 2, 1 - x, matmul, sum, unsqueeze, exp, clamp,
x ** 2, chunk, where, slices ...) import equal and export equal (Python file, ONNX)."""
import importlib.util
import math
import operator
from pathlib import Path

import pytest
import torch

from graph import catalogue
from graph.analysis import analyse
from graph.catalogue import tensor_ops as T
from graph.model import Graph
from graph.names import GraphError
from graph.project import load
from runtime.compile import compile_graph, resolve
from runtime.importer import import_model, parse_input
from tests.zoo import nets_ops

TOL = 1e-6


def one_node(type_, params, shapes, dtypes=None):
    """Inputs of one sample's `shapes` into the node's ports in order, its first output the
    model's: the graph and its compiled model (eval)."""
    g = Graph()
    g.add_node(type_, "n", params)
    spec = catalogue.get(type_)
    for i, (port, shape) in enumerate(zip(spec.inputs, shapes)):
        dtype = (dtypes or {}).get(port.name, "float32")
        g.add_node("Input", f"x{i}", {"shape": list(shape),
                                      "dtype": "float32" if dtype == "bool" else dtype})
        if dtype == "bool":  # an Input gives no bool: x > 0 does
            g.add_node("TensorScalar", f"b{i}", {"function": "gt", "scalar": 0.0})
            g.connect(f"x{i}", "out", f"b{i}", "x")
            g.connect(f"b{i}", "y", "n", port.name)
        else:
            g.connect(f"x{i}", "out", "n", port.name)
    g.add_node("Output", "out")
    g.connect("n", spec.outputs[0].name, "out", "x")
    return g


def run(type_, params, *xs, dtypes=None):
    g = one_node(type_, params, [x.shape[1:] for x in xs], dtypes)
    a = analyse(g)
    assert not a.errors, a.errors
    with torch.no_grad():
        return compile_graph(g).model.eval()(*xs)


def _close(got, want):
    assert got.shape == want.shape and got.dtype == want.dtype
    assert torch.allclose(got, want, atol=TOL, equal_nan=True) if got.is_floating_point() \
        else torch.equal(got, want)


# Numbers --------------------------------------------------------------------------------------

@pytest.mark.parametrize("fn", list(T.UNARY))
def test_tensor_function_is_torchs(fn):
    torch.manual_seed(0)
    x = torch.randn(3, 4, 5)
    _close(run("TensorFunction", {"function": fn}, x), getattr(torch, fn)(x))


_PY = {"add": operator.add, "sub": operator.sub, "rsub": lambda x, c: c - x,
       "mul": operator.mul, "div": operator.truediv, "rdiv": lambda x, c: c / x,
       "pow": operator.pow, "rpow": lambda x, c: c ** x,
       "maximum": lambda x, c: torch.maximum(x, torch.tensor(c)),
       "minimum": lambda x, c: torch.minimum(x, torch.tensor(c)),
       "remainder": operator.mod, "fmod": torch.fmod, "floor_divide": operator.floordiv,
       "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
       "gt": operator.gt, "ge": operator.ge}


@pytest.mark.parametrize("fn", list(T.SCALAR))
@pytest.mark.parametrize("c", [2, -0.5])
def test_tensor_and_a_constant_is_pythons_operator_on_a_tensor(fn, c):
    torch.manual_seed(1)
    x = torch.randn(3, 4) * 3
    if fn == "clamp":
        _close(run("TensorScalar", {"function": fn, "min": -1, "max": c}, x), x.clamp(-1, c))
        _close(run("TensorScalar", {"function": fn, "min": c}, x), x.clamp(min=c))
        return
    _close(run("TensorScalar", {"function": fn, "scalar": c}, x), _PY[fn](x, c))


@pytest.mark.parametrize("fn", list(T.BINARY))
def test_tensor_binary_broadcasts_as_torch(fn):
    torch.manual_seed(2)
    a, b = torch.randn(3, 4, 1) * 3, torch.randn(3, 1, 5) + 0.5
    _close(run("TensorBinary", {"function": fn}, a, b), getattr(torch, fn)(a, b))


@pytest.mark.parametrize("fn", list(T.REDUCE))
@pytest.mark.parametrize("dims, keep", [([-1], False), ([1, 2], True), ([2, -3], False)])
def test_reduction_over_dims_is_torchs(fn, dims, keep):
    torch.manual_seed(3)
    x = torch.rand(2, 3, 4, 5) + 0.5
    p = {"function": fn, "dims": dims, "keepdim": keep, "correction": 0, "ord": 3.0}
    want = {"norm": lambda: torch.linalg.vector_norm(x, 3.0, dims, keep),
            "std": lambda: torch.std(x, dims, correction=0, keepdim=keep),
            "var": lambda: torch.var(x, dims, correction=0, keepdim=keep),
            "prod": lambda: x.prod(max(d % 4 for d in dims), keep).prod(
                min(d % 4 for d in dims), keep) if len(dims) > 1 else x.prod(dims[0], keep)}
    expected = want[fn]() if fn in want else getattr(torch, fn)(x, dims, keepdim=keep)
    _close(run("TensorReduce", p, x), expected)


def test_matmul_batched_broadcast_and_vectors_are_torchs():
    torch.manual_seed(4)
    for a, b in [(torch.randn(3, 4, 5), torch.randn(3, 5, 2)),
                 (torch.randn(3, 2, 4, 5), torch.randn(3, 1, 5, 6)),
                 (torch.randn(3, 5), torch.randn(3, 5, 2))]:
        _close(run("MatMul", {}, a, b), torch.matmul(a, b))
    # a weight without a batch: a Parameter-like m × p on the right
    g = Graph()
    g.add_node("Input", "x", {"shape": [4, 5]})
    g.add_node("Parameter", "w", {"shape": [5, 2], "init": "normal", "std": 1.0})
    g.add_node("MatMul", "mm")
    g.add_node("Output", "out")
    g.connect("x", "out", "mm", "a"), g.connect("w", "y", "mm", "b")
    g.connect("mm", "y", "out", "x")
    c = compile_graph(g)
    x = torch.randn(3, 4, 5)
    _close(c.model(x).detach(), x @ c.modules.get_submodule("w").weight.detach())


def test_where_and_shape_ops_are_torchs():
    torch.manual_seed(5)
    c, x, y = torch.randn(3, 4, 1), torch.randn(3, 4, 5), torch.randn(3, 1, 5)
    _close(run("Where", {}, c, x, y, dtypes={"cond": "bool"}), torch.where(c > 0, x, y))
    x = torch.randn(3, 4, 6)
    _close(run("Unsqueeze", {"dim": -1}, x), x.unsqueeze(-1))
    _close(run("Squeeze", {"dim": 2}, x[:, :, :1]), x[:, :, :1].squeeze(2))
    _close(run("Repeat", {"repeats": [2, 3]}, x), x.repeat(1, 2, 3))
    _close(run("Flip", {"dims": [1, -1]}, x), torch.flip(x, [1, -1]))
    _close(run("Roll", {"shifts": [1, -2], "dims": [1, 2]}, x), torch.roll(x, (1, -2), (1, 2)))
    _close(run("Slice", {"dim": -1, "start": 1, "end": -1, "step": 2}, x), x[..., 1:-1:2])
    _close(run("Slice", {"dim": 1, "start": -2}, x), x[:, -2:])
    for k in (2, 3):
        g = one_node(f"Chunk{k}", {"dim": -1}, [[4, 6]])
        g.add_node("Output", "last")
        g.connect("n", f"y{k}", "last", "x")
        outs = compile_graph(g).model(x)
        _close(outs[0], x.chunk(k, -1)[0]), _close(outs[1], x.chunk(k, -1)[-1])


def test_the_help_examples_hold():
    t = torch.tensor
    _close(run("TensorFunction", {"function": "exp"}, t([[0.0, 1.0]])), t([[1.0, math.e]]))
    _close(run("TensorScalar", {"function": "rsub", "scalar": 1}, t([[0.25, 1.0]])),
           t([[0.75, 0.0]]))
    _close(run("TensorBinary", {"function": "sub"}, t([[[1.0, 2.0]]]), t([[[1.0], [2.0]]])),
           t([[[0.0, 1.0], [-1.0, 0.0]]]))
    _close(run("MatMul", {}, t([[[1.0, 2.0]]]), t([[[3.0], [4.0]]])), t([[[11.0]]]))
    _close(run("TensorReduce", {"dims": [1]}, t([[1.0, 2.0, 3.0]])), t([6.0]))
    _close(run("Where", {}, t([[1.0, -1.0]]), t([[1.0, 2.0]]), t([[9.0, 9.0]]),
               dtypes={"cond": "bool"}), t([[1.0, 9.0]]))
    _close(run("Flip", {"dims": [-1]}, t([[1.0, 2.0, 3.0]])), t([[3.0, 2.0, 1.0]]))
    _close(run("Roll", {"shifts": [1], "dims": [-1]}, t([[1.0, 2.0, 3.0]])), t([[3.0, 1.0, 2.0]]))
    _close(run("Slice", {"start": 1, "end": 3}, t([[1.0, 2.0, 3.0, 4.0]])), t([[2.0, 3.0]]))
    _close(run("Repeat", {"repeats": [2]}, t([[1.0, 2.0]])), t([[1.0, 2.0, 1.0, 2.0]]))


# Refusals -------------------------------------------------------------------------------------

@pytest.mark.parametrize("type_, params, shapes, dtypes, port, words", [
    ("TensorBinary", {"function": "sub"}, [[4, 5], [3, 5]], None, "b", "cannot broadcast"),
    ("MatMul", {}, [[4, 5], [4, 2]], None, "b", "must equal b's second-to-last size"),
    ("MatMul", {}, [[2, 4, 5], [3, 5, 2]], None, "b", "batch dims"),
    ("TensorReduce", {"dims": [0]}, [[4]], None, "x", "batch axis"),
    ("TensorReduce", {"dims": [1, -2]}, [[4, 5]], None, "x", "twice"),
    ("TensorReduce", {"dims": [3]}, [[4]], None, "x", "allows dims 0 to 1"),
    ("TensorFunction", {}, [[4]], {"x": "int64"}, "x", "real numbers"),
    ("Unsqueeze", {"dim": 0}, [[4]], None, "x", "batch axis"),
    ("Squeeze", {"dim": 1}, [["T", 2]], None, "x", "not known to be"),
    ("Chunk4", {"dim": -1}, [[5]], None, "x", "makes 3"),
    ("Repeat", {"repeats": [2]}, [[4, 5]], None, "x", "one for every dim"),
    ("Where", {}, [[4], [4], [4]], None, "cond", "true/false"),
    ("Where", {}, [[4], [4], [3]], {"cond": "bool"}, "y", "cannot broadcast"),
    ("TensorScalar", {"function": "clamp"}, [[4]], None, None, "neither min nor max"),
    ("Roll", {"shifts": [1, 2], "dims": [1]}, [[4]], None, None, "one shift per dim"),
])
def test_misfits_are_refused_naming_the_port(type_, params, shapes, dtypes, port, words):
    a = analyse(one_node(type_, params, shapes, dtypes))
    problems = [i for i in a.errors if i.node == "n"]
    assert problems, a.errors
    assert problems[0].port == port and words in problems[0].message, problems[0]


def test_only_the_fixed_list_is_ever_called():
    """A function outside the list is refused as a param (never resolved, never eval'd); every
    table's targets are torch's functions or ours in runtime/tensor_ops.py."""
    from runtime.compile import CompileError
    with pytest.raises(GraphError, match="function must be one of 'abs'"):
        one_node("TensorFunction", {"function": "system"}, [[4]])
    g = one_node("TensorFunction", {}, [[4]])  # as a hand-edited file would hold it
    g.add_node("TensorFunction", "evil", {"function": "__import__"}, check_params=False)
    g.connect("n", "y", "evil", "x")
    assert any("must be one of" in i.message for i in analyse(g).errors if i.node == "evil")
    with pytest.raises(CompileError, match="evil"):
        compile_graph(g)
    for table in (T.UNARY, T.SCALAR, T.BINARY, T.REDUCE):
        for row in table.values():
            fn = resolve(row[0])
            assert callable(fn) and row[0].split(".")[0] in ("torch", "ops")
            assert row[0].startswith("torch.") or fn.__module__ == "runtime.tensor_ops"
    for spec in (catalogue.get(t) for t in ("TensorFunction", "TensorScalar", "TensorBinary",
                                            "TensorReduce")):
        table = {"TensorFunction": T.UNARY, "TensorScalar": T.SCALAR,
                 "TensorBinary": T.BINARY, "TensorReduce": T.REDUCE}[spec.type]
        assert spec.param("function").choices == tuple(table)


# Import and export ----------------------------------------------------------------------------
OPS_ZOO = [("HandNorm", "x=3,6"), ("HandAttention", "x=2,5,8"), ("ShapeOps", "x=2,3,12")]


def _imported(name, shape):
    torch.manual_seed(0)
    model = getattr(nets_ops, name)().eval()
    inputs = [parse_input(shape)]
    return model, inputs, import_model(model, inputs)


@pytest.mark.parametrize("name, shape", OPS_ZOO)
def test_tensor_operations_import_equal_and_the_python_export_equals(tmp_path, name, shape):
    from runtime.export import export
    model, inputs, r = _imported(name, shape)
    assert r.max_abs_diff <= 1e-5
    types = {r.project.graph.node_type(n) for n in r.project.graph.nodes()}
    assert types & {"TensorScalar", "TensorBinary", "MatMul", "TensorReduce", "Slice"}
    path, weights = r.save(tmp_path / f"{name}.json")
    files = export(load(path), weights, "python", tmp_path / f"{name.lower()}_model.py",
                   project_path=path)
    py = next(Path(f) for f in files if str(f).endswith(".py"))
    spec = importlib.util.spec_from_file_location(f"exported_{name}", py)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    exported = mod.load(next(Path(f) for f in files if str(f).endswith(".safetensors"))).eval()
    xs = [i.example(torch.Generator().manual_seed(3)) for i in inputs]
    with torch.no_grad():
        assert torch.allclose(exported(*xs), model(*xs), atol=1e-5)


def test_the_importer_maps_the_issues_operations():
    """x - y, x / 2, 1 - x, torch.matmul, x.sum(-1, keepdim=True), unsqueeze, exp, clamp and
    x ** 2 all arrive as nodes holding their constants."""
    _, _, r = _imported("HandNorm", "x=3,6")
    g = r.project.graph
    got = {(g.node_type(n), g.params(n).get("function"),
            g.params(n).get("scalar") if g.node_type(n) == "TensorScalar" and
            g.params(n)["function"] != "clamp" else None) for n in g.nodes()}
    for want in [("TensorBinary", "sub", None), ("TensorScalar", "rsub", 1),
                 ("TensorScalar", "div", 2), ("TensorScalar", "pow", 2),
                 ("TensorScalar", "clamp", None), ("TensorFunction", "exp", None),
                 ("TensorScalar", "rdiv", 2), ("TensorScalar", "rpow", 2)]:
        assert want in got, (want, got)
    _, _, r = _imported("HandAttention", "x=2,5,8")
    types = [r.project.graph.node_type(n) for n in r.project.graph.nodes()]
    assert {"MatMul", "Chunk3", "Where", "Unsqueeze", "Squeeze", "TensorReduce"} <= set(types)


@pytest.mark.slow  # ~20 s: torch's ONNX exporter
def test_onnx_export_of_imported_tensor_operations_in_onnxruntime(tmp_path):
    import onnxruntime as ort
    from runtime.export import export
    for name, shape in OPS_ZOO[:2]:
        model, inputs, r = _imported(name, shape)
        path, weights = r.save(tmp_path / f"{name}.json")
        [f] = [p for p in export(load(path), weights, "onnx", tmp_path / f"{name}.onnx")
               if str(p).endswith(".onnx")]
        x = inputs[0].example(torch.Generator().manual_seed(5))
        sess = ort.InferenceSession(str(f))
        [out] = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})
        with torch.no_grad():
            assert abs(out - model(x).numpy()).max() <= 1e-5, name
