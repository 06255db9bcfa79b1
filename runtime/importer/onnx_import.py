"""Import an ONNX file as an editable graph, verified equal against onnxruntime (issue 26).

    import_onnx("path/model.onnx", inputs) -> Imported

A mapper of our own (onnx2torch imports torchvision, which this app does not need): the file
is read with the onnx package (external data only from files inside the model's own folder),
checked (onnx.checker), its shapes inferred at the given input shapes, and each node mapped
to catalogue nodes by graph/catalogue/onnx_ops.py. Nodes whose inputs are all constants
(Constant, the shape arithmetic of a Reshape) are folded: the batch size stays a symbol, so
a Reshape to [N, -1] keeps the batch. The ops go through build.build_graph like a PyTorch
import (no module hierarchy: one flat graph); the initializers are copied into the compiled
modules by node id; the graph and onnxruntime run the example inputs and fresh random ones,
and above TOLERANCE the import is refused. An ONNX node with no mapping stops the import,
naming its type, name and inputs; nothing is written.
"""
from __future__ import annotations

import importlib
import time
from pathlib import Path

import numpy as np
import torch

from graph.catalogue import onnx_ops
from graph.catalogue.onnx_ops import BATCH, Arg, Unmapped
from graph.catalogue.torch_functions import INPUT

from .source import ImportProblem, InputSpec
from .trace import Op, Traced, Value

ORT_NEEDED = "verifying an ONNX import needs onnxruntime: pip install onnxruntime"
_DTYPES = {1: "float32", 7: "int64"}  # ONNX element types an Input node takes


def _tensors(graph):
    """Every TensorProto of a graph: initializers and attribute tensors, subgraphs too."""
    yield from graph.initializer
    for node in graph.node:
        for a in node.attribute:
            if a.HasField("t"):
                yield a.t
            yield from a.tensors
            for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                yield from _tensors(g)


def _check_external(model, folder: Path, name: str) -> bool:
    """Refuse any external data outside the model's folder (absolute, '..', a link out)."""
    import onnx
    found = False
    root = folder.resolve()
    for t in _tensors(model.graph):
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        found = True
        location = {e.key: e.value for e in t.external_data}.get("location", "")
        where = Path(location)
        bad = (not location or where.is_absolute() or location.startswith(("/", "\\"))
               or ".." in where.parts or ":" in location)
        if not bad:
            target = (root / where).resolve()
            bad = root not in target.parents
        if bad:
            raise ImportProblem(f"{name}: the tensor '{t.name}' keeps its data in "
                                f"'{location}', outside the model's folder: refused (external "
                                "data is read only from files beside the model)")
        if not (root / where).is_file():
            raise ImportProblem(f"{name}: the tensor '{t.name}' keeps its data in "
                                f"'{location}', which is not there")
    return found


def read_model(path: str | Path):
    """The ModelProto, with its external data (from inside its folder only), checked."""
    import onnx
    from onnx import external_data_helper
    path = Path(path)
    if not path.is_file():
        raise ImportProblem(f"{path}: no such file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 (protobuf's errors: not an ONNX file)
        raise ImportProblem(f"{path}: not an ONNX model ({type(e).__name__}: "
                            f"{(str(e).splitlines() or [''])[0]})") from None
    if _check_external(model, path.parent, path.name):
        try:
            external_data_helper.load_external_data_for_model(model, str(path.parent))
        except Exception as e:  # noqa: BLE001
            raise ImportProblem(f"{path}: its external data cannot be read: "
                                f"{type(e).__name__}: {e}") from None
    try:
        onnx.checker.check_model(model)
    except Exception as e:  # noqa: BLE001 (onnx.checker.ValidationError and the like)
        raise ImportProblem(f"{path}: the ONNX checker refuses it: "
                            f"{(str(e).strip().splitlines() or [''])[0]}") from None
    return model


def _attrs(node) -> dict:
    import onnx
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        elif isinstance(v, list):
            v = [x.decode("utf-8", "replace") if isinstance(x, bytes) else x for x in v]
        out[a.name] = v
    return out


def _opset(model) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


def _graph_inputs(model) -> list:
    inits = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def _match_inputs(model, inputs: list[InputSpec], name: str) -> list[InputSpec]:
    """The --input for each graph input, in the graph's order: by name, else by position
    (ONNX names such as 'input.1' are not Python names)."""
    ins = _graph_inputs(model)
    names = [i.name for i in ins]
    given = {i.name: i for i in inputs}
    if len(inputs) != len(ins):
        raise ImportProblem(f"{name} takes {len(ins)} input(s) ({', '.join(names)}); "
                            f"{len(inputs)} --input given")
    specs = [given[n] for n in names] if set(given) == set(names) else list(inputs)
    for onnx_in, spec in zip(ins, specs):
        t = onnx_in.type.tensor_type
        dtype = _DTYPES.get(t.elem_type)
        if dtype is None:
            raise ImportProblem(f"{name}: the input '{onnx_in.name}' has ONNX element type "
                                f"{t.elem_type}: only float32 and int64 inputs are imported")
        if dtype != spec.dtype:
            raise ImportProblem(f"{name}: the input '{onnx_in.name}' is {dtype}: write "
                                f"--input {spec.name}=...:{dtype}")
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        if t.HasField("shape") and (len(dims) != len(spec.shape) or any(
                d is not None and d != s for d, s in zip(dims, spec.shape))):
            raise ImportProblem(f"{name}: the input '{onnx_in.name}' has shape "
                                f"{['?' if d is None else d for d in dims]}; --input "
                                f"{spec.name} gives {list(spec.shape)}")
    return specs


def _shapes(model, specs: list[InputSpec], input_names: list[str]) -> dict[str, tuple]:
    """Every value's shape at the given input shapes: onnxruntime runs the example inputs with
    every node's output kept (exact, whatever computes a Pad's or a Reshape's sizes); where
    that fails, onnx's shape inference."""
    import onnx
    m = onnx.ModelProto()
    m.CopyFrom(model)
    seen = {o.name for o in m.graph.output}
    for node in m.graph.node:
        m.graph.output.extend(onnx.ValueInfoProto(name=o) for o in node.output
                              if o and o not in seen)
    names = [o.name for o in m.graph.output]
    try:
        gen = torch.Generator().manual_seed(0)
        feeds = {n: s.example(gen).numpy() for n, s in zip(input_names, specs)}
        got = _session(m).run(None, feeds)
        found = {n: tuple(np.shape(v)) for n, v in zip(names, got)}
        return {**found, **{n: tuple(s.shape) for n, s in zip(input_names, specs)}}
    except Exception:  # noqa: BLE001 (then shape inference: a help, the mappers say what lacks)
        pass
    m.CopyFrom(model)
    for onnx_in, spec in zip(_graph_inputs(m), specs):
        shape = onnx_in.type.tensor_type.shape
        del shape.dim[:]
        for s in spec.shape:
            shape.dim.add().dim_value = s
    try:
        m = onnx.shape_inference.infer_shapes(m, data_prop=True)
    except Exception:  # noqa: BLE001
        return {}
    out = {}
    for v in [*m.graph.input, *m.graph.value_info, *m.graph.output]:
        t = v.type.tensor_type
        if t.HasField("shape") and all(d.HasField("dim_value") for d in t.shape.dim):
            out[v.name] = tuple(d.dim_value for d in t.shape.dim)
    return out


def _session(model):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def _label(node, op_type: str) -> str:
    """A readable node id: the module path torch's exporters leave in the node's name
    ('/layer1/layer1.0/conv1/Conv') or metadata, else the operator's name."""
    meta = {p.key: p.value for p in node.metadata_props}
    scopes = meta.get("pkg.torch.onnx.name_scopes")
    if scopes:
        parts = [s.strip(" '\"") for s in scopes.strip("[]").split(",")][:-1]
    else:
        parts = node.name.strip("/").split("/")[:-1] if "/" in node.name else []
    kept: list[str] = []
    for p in (p for p in parts if p):
        if kept and p.startswith(kept[-1] + "."):
            kept[-1] = p
        else:
            kept.append(p)
    return "_".join(kept) or op_type.lower()


# ----------------------------------------------------------------------------------------
# Folding: nodes whose inputs are all constants; the batch size stays a symbol

def _symbolic(v) -> bool:
    return isinstance(v, np.ndarray) and v.dtype == object


def _fold(node, attrs: dict, ins: list, shapes: dict, opset: int, where: str):
    """The node's outputs as constants: numpy arrays, or object arrays holding BATCH."""
    op = node.op_type
    if op == onnx_ops.SHAPE:  # of a computed tensor (its inputs are not all constants)
        return None
    if any(_symbolic(v) for v in ins):
        return [_fold_symbolic(op, attrs, ins, where)]
    from onnx.reference import ReferenceEvaluator
    try:
        ev = ReferenceEvaluator(node, opsets={"": opset})
        feeds = {n: v for n, v in zip(node.input, ins) if n}
        return list(ev.run(None, feeds))
    except Exception as e:  # noqa: BLE001 (onnx's reference: an op it lacks, bad values)
        raise ImportProblem(f"{where}: its constant result cannot be computed: "
                            f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}") from None


def _fold_symbolic(op: str, attrs: dict, ins: list, where: str):
    """Shape arithmetic with the batch size in it: x.view(x.size(0), -1) and the like."""
    x = ins[0]
    if op in onnx_ops.PASS:
        return x
    if op == onnx_ops.GATHER and len(ins) == 2 and not _symbolic(ins[1]):
        return np.take(x, ins[1].astype(np.int64), axis=int(attrs.get("axis", 0)))
    if op == onnx_ops.UNSQUEEZE and x.ndim == 0 and (attrs.get("axes") == [0] or (
            len(ins) > 1 and ins[1].reshape(-1).tolist() == [0])):
        return x.reshape(1)
    if op == onnx_ops.SQUEEZE and x.size == 1:
        return x.reshape(())
    if op == onnx_ops.CONCAT and all(v is not None and v.ndim == 1 for v in ins):
        return np.concatenate([v.astype(object) for v in ins])
    if op == onnx_ops.SLICE and x.ndim == 1 and len(ins) >= 3 and not any(
            _symbolic(v) for v in ins[1:]):
        start, end = int(ins[1].reshape(-1)[0]), int(ins[2].reshape(-1)[0])
        step = int(ins[4].reshape(-1)[0]) if len(ins) > 4 and ins[4] is not None else 1
        return x[slice(start, min(end, x.size) if end > 0 else end, step)]
    raise ImportProblem(f"{where}: computes with the batch size ({op} of "
                        f"{x.tolist()}): not mapped")


def _shape_of(node, shapes: dict, where: str):
    shape = shapes.get(node.input[0])
    if shape is None:
        raise ImportProblem(f"{where}: the shape of '{node.input[0]}' is not known")
    attrs = _attrs(node)
    full = np.array([BATCH, *shape[1:]], dtype=object)
    return full[attrs.get("start", 0):attrs.get("end", len(shape))]


# ----------------------------------------------------------------------------------------

def _matmul_biases(graph, consts: dict) -> dict[str, tuple[str, str]]:
    """MatMul nodes whose only use is an Add of a constant: matmul name -> (bias, Add's
    output); the two are one Linear with a bias."""
    uses: dict[str, list] = {}
    for node in graph.node:
        for i in node.input:
            uses.setdefault(i, []).append(node)
    outputs = {o.name for o in graph.output}
    found = {}
    for node in graph.node:
        if node.op_type != onnx_ops.MATMUL or node.input[1] not in consts:
            continue
        y = node.output[0]
        after = uses.get(y, [])
        if y in outputs or len(after) != 1 or after[0].op_type != onnx_ops.ADD:
            continue
        add = after[0]
        other = [i for i in add.input if i != y]
        if len(other) == 1 and other[0] in consts and len(add.input) == 2:
            found[node.name or y] = (other[0], add.output[0])
    return found


def _map(model, specs: list[InputSpec], shapes: dict, name: str) -> tuple[Traced, dict]:
    """ONNX nodes -> Ops; returns the Traced and, per weighted op, (module key, weights)."""
    from onnx import numpy_helper
    graph, opset = model.graph, _opset(model)
    consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    values: dict[str, Value] = {}
    ops: list[Op] = []
    for onnx_in, spec in zip(_graph_inputs(model), specs):
        op = Op(f"in_{len(ops)}", INPUT, {}, [], (), label=spec.name)
        ops.append(op)
        values[onnx_in.name] = Value(op.name)
    fused = _matmul_biases(graph, consts)
    skip = {add_out for _, add_out in fused.values()}
    weights: dict[str, dict] = {}
    wheres: dict[str, str] = {}  # module key -> the ONNX node it comes from
    for k, node in enumerate(graph.node):
        where = f"ONNX node '{node.name or node.output[0]}' ({node.op_type})"
        attrs = _attrs(node)
        if node.output and node.output[0] in skip:
            continue  # the Add joined into the MatMul before it
        known = all(not i or i in consts for i in node.input)
        if known and node.op_type not in onnx_ops.NOT_FOLDED and node.domain in ("", "ai.onnx"):
            ins = [consts[i] if i else None for i in node.input]
            for out, v in zip(node.output, _fold(node, attrs, ins, shapes, opset, where)):
                consts[out] = np.asarray(v) if not _symbolic(v) else v
            continue
        if node.op_type == onnx_ops.SHAPE:
            consts[node.output[0]] = _shape_of(node, shapes, where)
            continue
        inputs = list(node.input)
        bias = fused.get(node.name or node.output[0])
        if bias is not None:
            inputs.append(bias[0])
        args = []
        for i in inputs:
            if not i:
                args.append(None)
            elif i in consts:
                args.append(Arg(consts[i], tuple(consts[i].shape)))
            elif i in values:
                args.append(Arg(None, shapes.get(i)))
            else:
                raise ImportProblem(f"{where}: its input '{i}' is made nowhere in the graph")
        try:
            m = onnx_ops.map_node(node.op_type, attrs, args, opset, node.domain)
        except Unmapped as e:
            raise ImportProblem(f"{where} with inputs ({', '.join(node.input)}): {e}; the "
                                "import stops (nothing was written)") from None
        if any(inputs[i] not in values for i in m.wired):
            raise ImportProblem(f"{where}: an input it needs from the graph is a constant")
        from graph import catalogue
        port = catalogue.get(m.type).inputs[0].name
        key = label = _label(node, node.op_type)
        n = 2
        while key in wheres:
            key, n = f"{label}_{n}", n + 1
        wheres[key] = where
        op = Op(f"n{k}", m.type, m.params, [(port, values[inputs[i]]) for i in m.wired], (),
                module=key, label=key, line=where)
        ops.append(op)
        outs = [bias[1]] if bias is not None else node.output[:1]
        for extra in node.output[1:]:
            if extra and _used(graph, extra):
                raise ImportProblem(f"{where}: its output '{extra}' (beyond the first) is used: "
                                    "not mapped")
        values[outs[0]] = Value(op.name)
        if m.weights:
            weights[key] = (where, {sk: _tensor(consts[inputs[i]], how, where)
                                    for sk, (i, how) in m.weights.items()})
    outputs = []
    for o in graph.output:
        if o.name not in values:
            raise ImportProblem(f"{name}: the output '{o.name}' is a constant or an input, not "
                                "computed by the graph")
        outputs.append(values[o.name])
    return Traced(ops, outputs, [s.name for s in specs], {}), weights


def _used(graph, name: str) -> bool:
    return any(name in n.input for n in graph.node) or any(o.name == name for o in graph.output)


def _tensor(a: np.ndarray, how: str, where: str) -> torch.Tensor:
    if a.dtype == object:
        raise ImportProblem(f"{where}: a weight depends on the batch size")
    a = np.array(a, dtype=np.float32)  # a copy torch may write to
    if how == "T":
        a = a.T
    elif how == "flat":
        a = a.reshape(-1)
    elif how == "zeros":
        a = np.zeros_like(a)
    return torch.from_numpy(np.ascontiguousarray(a))


def _load_weights(compiled, paths: dict[str, str], weights: dict[str, tuple]) -> None:
    from runtime.compile import module_at
    with torch.no_grad():
        for key, (where, state) in weights.items():
            dst = module_at(compiled.modules, paths[key])
            if dst is None:
                raise ImportProblem(f"{where}: no module at '{paths[key]}' in the graph")
            try:
                missing, unexpected = dst.load_state_dict(state, strict=False)
            except RuntimeError as e:
                raise ImportProblem(f"{where} -> node '{paths[key]}': its weights do not fit "
                                    f"({str(e).splitlines()[-1].strip()})") from None
            missing = [m for m in missing if not m.endswith("num_batches_tracked")]
            if missing or unexpected:
                raise ImportProblem(f"{where} -> node '{paths[key]}': its weights do not fit "
                                    f"(missing {missing}, unexpected {unexpected})")


def verify_onnx(session, compiled, specs: list[InputSpec], input_names: list[str],
                trials: int = 3) -> float:
    """The largest absolute difference between onnxruntime and the graph on the example
    inputs (seed 0) and `trials - 1` fresh random ones."""
    worst = 0.0
    for trial in range(trials):
        gen = torch.Generator().manual_seed(trial)
        xs = [s.example(gen) for s in specs]
        want = session.run(None, {n: x.numpy() for n, x in zip(input_names, xs)})
        with torch.no_grad():
            got = compiled.model(*xs)
        got = list(got) if isinstance(got, (tuple, list)) else [got]
        if len(got) != len(want):
            return float("inf")
        for w, o in zip(want, got):
            w = torch.from_numpy(np.asarray(w))
            if tuple(w.shape) != tuple(o.shape):
                return float("inf")
            if w.numel():
                worst = max(worst, (w.double() - o.double()).abs().max().item())
    return worst


def import_onnx(path: str | Path, inputs: list[InputSpec]):
    from graph.project import Project

    from . import TOLERANCE, Imported
    from .build import build_graph, compile_built
    try:
        importlib.import_module("onnxruntime")
    except ImportError:
        raise ImportProblem(ORT_NEEDED) from None
    t0 = time.perf_counter()
    path = Path(path)
    model = read_model(path)
    specs = _match_inputs(model, inputs, path.name)
    names = [i.name for i in _graph_inputs(model)]
    traced, weights = _map(model, specs, _shapes(model, specs, names), path.name)
    built = build_graph(traced, specs)
    g = built.graph
    compiled = compile_built(built)
    _load_weights(compiled, built.paths, weights)
    compiled.model.eval()
    try:
        session = _session(model)
    except Exception as e:  # noqa: BLE001 (onnxruntime's own errors)
        raise ImportProblem(f"{path.name}: onnxruntime cannot run it: {type(e).__name__}: "
                            f"{(str(e).splitlines() or [''])[0]}") from None
    diff = verify_onnx(session, compiled, specs, names)
    seconds = time.perf_counter() - t0
    if not diff <= TOLERANCE:
        raise ImportProblem(f"the imported graph computes something else: largest difference "
                            f"from onnxruntime {diff:.3g} (above {TOLERANCE:g}); nothing was "
                            "written")
    name = path.stem
    project = Project(graph=g, name=name, description=f"Imported from the ONNX file {path.name}.")
    return Imported(project, compiled, name, diff, seconds, built.blocks, built.nodes_by_type)


def input_hints(path: str | Path) -> list[str]:
    """One `--input` per graph input, from the file ('x=1,3,32,32', an unknown size as 1,
    ':int64' for token ids): what the import dialog fills in for the user to check."""
    model = read_model(path)
    hints = []
    for i, onnx_in in enumerate(_graph_inputs(model)):
        t = onnx_in.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1
                for d in t.shape.dim]
        name = onnx_in.name if onnx_in.name.isidentifier() else f"input{i + 1}"
        dtype = _DTYPES.get(t.elem_type, "float32")
        hints.append(f"{name}={','.join(map(str, dims))}"
                     + (f":{dtype}" if dtype != "float32" else ""))
    return hints
