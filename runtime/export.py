"""Export a trained model: `bundle` (safetensors + project JSON), `torchscript`, `onnx`, or
`python` (one standalone, readable file needing only torch and safetensors).

Weights are read from a .safetensors file, a checkpoint folder, or a run folder (its best
checkpoint, else its last); never by unpickling. Every file is written to a temporary name
and renamed, so a failed export leaves nothing half-written.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import warnings
from pathlib import Path

import torch

from graph.fileio import atomic_folder, atomic_write_bytes, atomic_write_text, new_file_mode
from graph.project import Project
from graph.spec import BATCH, is_symbol

from .codegen import example_lengths, example_shapes, standalone_file, symbolic_axes
from .compile import CompileError, Compiled, compile_graph
from .weights import WeightsError, load_weights, save_weights

FORMATS = {
    "bundle": "a folder with the weights (safetensors) and the project (JSON)",
    "torchscript": "a TorchScript archive (.pt), loadable with torch.jit.load",
    "onnx": "an ONNX model (.onnx) for onnxruntime and other runtimes",
    "python": "a standalone Python file with the model as a plain nn.Module, and its weights",
}


class ExportError(Exception):
    pass


class DestinationError(ExportError):
    """The output path is refused before any work: no export was written."""


class ExistsError(DestinationError):
    """The export would replace existing files or folders (`paths`) and `force` is off."""

    def __init__(self, paths: list[Path]):
        self.paths = list(paths)
        names = ", ".join(str(p) for p in self.paths)
        super().__init__(f"{names}: already exist{'s' if len(self.paths) == 1 else ''} "
                         "(pass --force to replace)")


def weights_file(path: str | os.PathLike) -> Path:
    """A .safetensors file from a file, a checkpoint folder, a run folder, or a folder holding
    one .safetensors file (what `layerloom train --out DIR` writes)."""
    p = Path(path)
    if p.is_file():
        return p
    for candidate in (p / "model.safetensors", p / "checkpoints" / "best" / "model.safetensors",
                      p / "checkpoints" / "last" / "model.safetensors"):
        if candidate.is_file():
            return candidate
    found = sorted(p.glob("*.safetensors")) if p.is_dir() else []
    if len(found) == 1:
        return found[0]
    if found:
        raise ExportError(f"{p}: several weights files there ({', '.join(f.name for f in found)}); "
                          "name one")
    raise ExportError(f"{p}: no weights there (expected a .safetensors file, a checkpoint or "
                      "a run folder)")


def trained_model(project: Project, weights: str | os.PathLike | None) -> Compiled:
    try:
        c = compile_graph(project.graph, standardize=project.data.standardize)
    except CompileError as e:
        raise ExportError(f"the graph has problems: {e}") from None
    if weights is not None:
        wf = weights_file(weights)
        try:
            load_weights(c.model, wf, set(c.modules.state_dict()))
        except WeightsError as e:
            raise ExportError(str(e)) from None
    c.model.eval()
    return c


def example_inputs(c: Compiled, batch: int = 2, lengths: dict[str, int] | None = None,
                   seed: int | None = None) -> tuple:
    """One example tensor per Input: `batch` samples; a size the data sets (an Input shaped
    ['T', 2]) gets its length from `lengths` by name, else 5, 6, ... (codegen.example_lengths);
    floats in U(0, 1), token ids (int64) zeros, valid for any Embedding. With `seed`, the
    floats come from a generator of that seed (the same tensors every time)."""
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    out = []
    for shape, dtype in example_shapes(c, batch, lengths):
        out.append(torch.zeros(shape, dtype=torch.long) if dtype == "int64"
                   else torch.rand(shape, generator=gen))
    return tuple(out)


def dynamic_shapes(c: Compiled) -> dict[str, dict[int, "torch.export.Dim"]]:
    """torch.export's dynamic shapes for the Inputs: the batch axis, and one Dim per size the
    data sets, shared by name (two Inputs shaped ['T', 2] and ['T'] get the same T)."""
    dims: dict[str, torch.export.Dim] = {}
    out = {}
    for n, axes in symbolic_axes(c).items():
        out[n] = {i: dims.setdefault(name, torch.export.Dim(name, min=1))
                  for i, name in axes.items()}
    return out


def output_paths(fmt: str, out: str | os.PathLike) -> list[Path]:
    """What an export to `out` writes: the folder (bundle), the file, or for `python` the
    .py file and its weights beside it."""
    out = Path(out)
    if fmt == "python":
        py = out if out.suffix == ".py" else out.with_suffix(".py")
        return [py, py.with_suffix(".safetensors")]
    return [out]


def _same(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _inside(child: Path, folder: Path) -> bool:
    return folder.resolve() in child.resolve().parents


def check_destination(fmt: str, out: str | os.PathLike, *, force: bool = False,
                      project_path: str | os.PathLike | None = None,
                      weights_path: str | os.PathLike | None = None) -> list[Path]:
    """The one rule both front ends share: never write over the project file or the weights
    being exported (nor, for a bundle, a folder holding them); a file export never replaces a
    folder; anything else that exists is replaced only with `force`. Returns the paths the
    export will write; raises DestinationError (ExistsError for what `force` would allow)."""
    targets = output_paths(fmt, out)
    protected = [(Path(p), what) for p, what in ((project_path, "the project file"),
                                                 (weights_path, "the weights file"))
                 if p is not None]
    for t in targets:
        if not t.parent.exists():
            raise DestinationError(f"{t.parent}: no such folder")
        if not t.parent.is_dir():
            raise DestinationError(f"{t.parent}: not a folder")
        for p, what in protected:
            if _same(t, p):
                raise DestinationError(f"{t}: is {what} being exported; choose another name")
            if fmt == "bundle" and _inside(p, t):
                raise DestinationError(f"{t}: holds {what} being exported ({p}); choose "
                                       "another folder")
        if fmt != "bundle" and t.is_dir():
            raise DestinationError(f"{t}: is a folder; a {fmt} export writes a file there")
    existing = [t for t in targets if os.path.lexists(t)]
    if existing and not force:
        raise ExistsError(existing)
    return targets


def export(project: Project, weights, fmt: str, out: str | os.PathLike, *, force: bool = False,
           project_path: str | os.PathLike | None = None) -> list[Path]:
    """Write the export; returns the files written. `project_path` is the project's file, if
    it has one: the export never writes over it (nor over the weights it reads); existing
    files are replaced only with `force` (see check_destination)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format '{fmt}' (one of: {', '.join(FORMATS)})")
    wf = weights_file(weights) if weights is not None else None
    check_destination(fmt, out, force=force, project_path=project_path, weights_path=wf)
    c = trained_model(project, wf)
    if not c.inputs or not c.outputs:
        raise ExportError("the model needs at least one Input and one Output node to export")
    if fmt in ("torchscript", "onnx"):
        traced = {node.name for node in c.model.graph.nodes}
        nms = [n for n in c.analysis.order if n in traced
               and any(p.role == "det_boxes" for p in c.graph.spec(n).outputs)]
        if nms and fmt == "onnx":  # issue 13: TorchScript keeps the loop (scripted), ONNX not
            raise ExportError("ONNX: the detector's post-processing "
                              f"('{nms[0]}': score threshold and non-maximum suppression) "
                              "keeps a different number of boxes for each image, a loop "
                              "torch's ONNX exporters cannot write yet; export TorchScript, "
                              "the python file or the bundle instead")
        for g in c.steps:  # traced: the loop runs its max_len steps (the same tokens)
            c.modules.get_submodule(g).early_stop = False
    return {"bundle": _bundle, "torchscript": _torchscript, "onnx": _onnx,
            "python": _python}[fmt](project, c, Path(out))


def _bundle(project: Project, c: Compiled, out: Path) -> list[Path]:
    vocab = dataset_vocab(project)
    with atomic_folder(out) as tmp:
        save_weights(c.model, tmp / "model.safetensors", {"project": "project.json"})
        project.save(tmp / "project.json")
        if vocab is not None:
            (tmp / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False) + "\n",
                                            encoding="utf-8")
    files = [out / "model.safetensors", out / "project.json"]
    return files + ([out / "vocab.json"] if vocab is not None else [])


def dataset_vocab(project: Project) -> list[str] | None:
    """The token vocabulary (id -> text) of the project's dataset when it is a generated or
    shipped text dataset (characters, dates, reverse, copy): what an export needs to read a
    typed input and write its output. None for other data (read from the user's files)."""
    from .data import DATASETS, DataError, load_dataset
    spec = DATASETS.get(project.data.dataset)
    if spec is None or spec.make.__module__ not in ("runtime.sequences", "runtime.seq2seq"):
        return None
    try:
        return load_dataset(project.data.dataset, project.data.options,
                            project.training.seed).vocab
    except DataError:
        return None


def _torchscript(project: Project, c: Compiled, out: Path) -> list[Path]:
    """A trace. nn.LSTM/GRU/RNN trace to one aten op and sizes are read with size(), so the
    trace takes any batch and any sequence length; the detection functions whose loops and
    sizes depend on the data (RoI pooling, NMS) enter the trace as TorchScript functions
    (runtime.detection.boxes.traced_as_script). A trace that baked a size in would give
    wrong results silently, so it is run once more at other sizes and must agree."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # asked for TorchScript: no nagging
        # nn.RNN's flat-weights checks convert tensors to bools: "might cause the trace to be
        # incorrect" (it does not here: the check below runs the trace at other sizes)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        traced = torch.jit.trace(c.model, example_inputs(c), check_trace=False)
        _check_trace(c, traced)
        buf = io.BytesIO()
        vocab = dataset_vocab(project)
        extra = {"vocab.json": json.dumps(vocab, ensure_ascii=False)} if vocab else {}
        torch.jit.save(traced, buf, _extra_files=extra)
    atomic_write_bytes(out, buf.getvalue())
    return [out]


def _check_trace(c: Compiled, traced) -> None:
    lengths = {name: length + 2 for name, length in example_lengths(c).items()}
    args = example_inputs(c, batch=3, lengths=lengths, seed=0)
    want, got = _flat(c.model(*args)), None
    try:
        got = _flat(traced(*args))
    except Exception:
        pass
    if got is None or len(got) != len(want) or not all(
            g.shape == w.shape and torch.allclose(g, w, rtol=1e-4, atol=1e-5)
            for g, w in zip(got, want)):
        sizes = ", ".join(f"{k} = {v}" for k, v in {"batch": 3, **lengths}.items())
        raise ExportError(f"the TorchScript trace does not generalise: at {sizes} it differs "
                          "from the model (the trace fixed a size); export ONNX or the "
                          "python file instead")


def _flat(out) -> list[torch.Tensor]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _onnx(project: Project, c: Compiled, out: Path) -> list[Path]:
    """torch's exporter (dynamo), the batch and every size the data sets dynamic. Where that
    exporter fixes such a size (torch 2.13 unrolls nn.RNN over the example's 5 steps), the
    TorchScript-based exporter, which writes ONNX's own RNN/LSTM/GRU ops with named dynamic
    axes. A model with a size the data sets is then run at other sizes in onnxruntime, if it is
    installed, and must agree with the model."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise ExportError("ONNX export needs the onnx and onnxscript packages "
                          "(pip install onnx onnxscript)") from None
    sequences = any(len(axes) > 1 for axes in symbolic_axes(c).values())
    # graph.fileio's temp name scheme (with the pid), so a killed export's temp is known stale
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.{os.getpid()}.", suffix=".tmp",
                               dir=out.parent)
    os.close(fd)
    try:
        try:
            _onnx_dynamo(c, tmp)
            if sequences:
                _symbolic_output_shapes(c, tmp)
            fixed = _fixed_size(c, tmp) if sequences else None
        except Exception:
            if not sequences:
                raise
            fixed = "torch's exporter failed"
        if fixed is not None:
            _onnx_torchscript(c, tmp)
            _symbolic_output_shapes(c, tmp)
            problem = _fixed_size(c, tmp)
            if problem is not None:
                raise ExportError(f"ONNX export fixed a size the data sets: {problem}")
        import onnx
        vocab = dataset_vocab(project)
        if vocab is not None:  # what the token ids mean, in the model's metadata
            m = onnx.load(tmp)
            onnx.helper.set_model_props(m, {"vocab": json.dumps(vocab, ensure_ascii=False)})
            onnx.save(m, tmp)
        onnx.checker.check_model(tmp)
        os.chmod(tmp, new_file_mode(out))  # mkstemp makes it 0600
        os.replace(tmp, out)
    except ExportError:
        raise
    except Exception as e:
        raise ExportError(f"ONNX export failed: {type(e).__name__}: {str(e).splitlines()[0]}") \
            from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return [out]


def _onnx_dynamo(c: Compiled, path: str) -> None:
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), \
            _fresh_rnn_dispatch():
        # the exporter reports progress, and torch's own deprecations (_check_is_size)
        # and nn.LSTM's _flat_weights ("assigned during export") in warnings
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*were assigned during export")
        # two inputs sharing the size T (or N): the exporter names the axis once
        warnings.filterwarnings("ignore", message=".*shares the same shape constraints")
        torch.onnx.export(c.model, example_inputs(c), path, dynamo=True,
                          input_names=list(c.inputs), output_names=list(c.outputs),
                          dynamic_shapes=dynamic_shapes(c), external_data=False, verbose=False)


@contextlib.contextmanager
def _fresh_rnn_dispatch():
    """torch 2.13's ONNX exporter keeps an LSTM's or GRU's length dynamic by swapping in a
    while-loop decomposition of aten.lstm / aten.gru around the capture; it edits the ops'
    py_kernels but not their dispatch caches, so the second export of the same op in a process
    (measured: lstm, then lstm again) finds the unrolled decomposition cached and fixes T at
    the example's length; and after an export the while-loop one (no autograd) stays cached.
    Both caches are emptied before and after (they refill on the next call)."""
    def clear():
        for name in ("lstm", "gru", "rnn_tanh", "rnn_relu"):
            packet = getattr(torch.ops.aten, name, None)
            for overload in (packet.overloads() if packet is not None else ()):
                cache = getattr(getattr(packet, overload), "_dispatch_cache", None)
                if isinstance(cache, dict):
                    cache.clear()
    clear()
    try:
        yield
    finally:
        clear()


def _onnx_torchscript(c: Compiled, path: str) -> None:
    """The TorchScript-based exporter (deprecated in torch, still shipped in 2.13): a trace, so
    nn.RNN/LSTM/GRU become ONNX's RNN/LSTM/GRU ops and every size named in dynamic_axes stays
    free."""
    axes: dict[str, dict[int, str]] = dict(symbolic_axes(c))
    for n in c.outputs:
        edges = c.graph.in_edges(n)
        t = c.analysis.edge_type(edges[0]) if edges else None
        if t is not None:
            axes[n] = {i: d if d == BATCH or is_symbol(d) else f"{n}_{i}"
                       for i, d in enumerate(t.shape) if isinstance(d, str)}
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="You are using the legacy TorchScript")
        # initial states are made from the input's own batch size (x.new_zeros, nn.RNN's
        # zeros of input.size(0)): checked at batch 3 by _fixed_size
        warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size")
        torch.onnx.export(c.model, example_inputs(c), path, dynamo=False,
                          input_names=list(c.inputs), output_names=list(c.outputs),
                          dynamic_axes=axes)


def _fixed_size(c: Compiled, path: str) -> str | None:
    """Why the ONNX model at `path` would not take other sizes, or None: an Input's axis that
    the data sets came out fixed; or, with onnxruntime installed, the model run at batch 3 and
    each such size + 2 fails or differs from the compiled model."""
    import onnx
    model = onnx.load(path)
    for inp in model.graph.input:
        dims = inp.type.tensor_type.shape.dim
        for i, name in symbolic_axes(c).get(inp.name, {}).items():
            if i < len(dims) and not dims[i].dim_param:
                return f"input {inp.name} has {name} = {dims[i].dim_value}"
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    lengths = {name: length + 2 for name, length in example_lengths(c).items()}
    sizes = ", ".join(f"{k} = {v}" for k, v in {"batch": 3, **lengths}.items())
    args = example_inputs(c, batch=3, lengths=lengths, seed=0)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3  # a shape warning is an error here: compared below
    try:
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        got = session.run(None, {n: a.numpy() for n, a in zip(c.inputs, args)})
    except Exception as e:
        return f"onnxruntime fails at {sizes} ({str(e).splitlines()[0][:200]})"
    with torch.no_grad():
        want = _flat(c.model(*args))
    for name, g, w in zip(c.outputs, got, want):
        g = torch.from_numpy(g)
        if g.shape != w.shape or not torch.allclose(g, w, rtol=1e-3, atol=1e-4):
            return f"output {name} differs from the model's at {sizes}"
    return None


def _symbolic_output_shapes(c: Compiled, path: str) -> None:
    """torch's exporter annotates nn.LSTM/GRU's sequence output with the example's length
    (N × 5 × H for an input N × T × F: its decomposition step recomputes the shapes with the
    unrolled LSTM, pytorch/pytorch#193192), and onnxruntime then warns at every other length.
    The outputs' shapes are rewritten from the analysis (sizes by name: N, T), and the inner
    annotations inferred again by onnx from the graph's inputs."""
    import onnx
    model = onnx.load(path)
    for o, n in zip(model.graph.output, c.outputs):
        edges = c.graph.in_edges(n)
        t = c.analysis.edge_type(edges[0]) if edges else None
        dims = o.type.tensor_type.shape.dim
        if t is None or len(t.shape) != len(dims):
            continue
        for dim, d in zip(dims, t.shape):
            if isinstance(d, int):
                dim.dim_value = d
            elif d == BATCH or is_symbol(d):
                dim.dim_param = d
            else:  # a size derived from one ('T[1:]'): left unnamed
                dim.Clear()
    del model.graph.value_info[:]
    try:
        model = onnx.shape_inference.infer_shapes(model)
    except Exception:  # the annotations are optional: runtimes infer them themselves
        pass
    onnx.save_model(model, path)


def _python(project: Project, c: Compiled, out: Path) -> list[Path]:
    out, weights = output_paths("python", out)
    save_weights(c.model, weights, {"project": project.name})
    atomic_write_text(out, standalone_file(c, project.name, weights.name, module=out.stem,
                                           vocab=dataset_vocab(project)))
    return [out, weights]
