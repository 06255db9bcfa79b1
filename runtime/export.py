"""Export a trained model: `bundle` (safetensors + project JSON), `torchscript`, `onnx`,
`pt2` (a torch.export ExportedProgram; its writer is runtime/export_pt2.py), or `python`
(one standalone, readable file needing only torch and safetensors).

Weights are read from a .safetensors file, a checkpoint folder, or a run folder (its best
checkpoint, else its last); never by unpickling. Every file is written to a temporary name
and renamed, so a failed export leaves nothing half-written.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from graph.fileio import atomic_folder, atomic_write_bytes, atomic_write_text
from graph.project import Project
from graph.spec import BATCH, is_symbol

from .codegen import example_lengths, example_shapes, standalone_file, symbolic_axes
from .compile import CompileError, Compiled, compile_graph
from .loop_script import has_loops, scripted_loops
# The destination rules, and the errors, live in export_paths; imported here under their
# old path (the CLI, the export dialog and the tests import them from runtime.export).
from .export_paths import (DestinationError, ExistsError, ExportError,  # noqa: F401
                           check_destination, output_paths, rename_onto, temp_beside)
from .weights import WeightsError, load_weights, save_weights

FORMATS = {
    "bundle": "a folder with the weights (safetensors) and the project (JSON)",
    "torchscript": "a TorchScript archive (.pt), loadable with torch.jit.load",
    "onnx": "an ONNX model (.onnx) for onnxruntime and other runtimes",
    "pt2": "a torch.export ExportedProgram (.pt2), loadable with "
           "torch.export.load(path).module()",
    "python": "a standalone Python file with the model as a plain nn.Module, and its weights",
    "script": "a folder with a training script (train.py: the data, the losses, the optimizer, "
              "DDP under torchrun), the model's Python file and a SLURM example",
}


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
        c = compile_graph(project.graph, standardize=project.data.standardize,
                          normalize=project.data.augment.normalize)
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


def export(project: Project, weights, fmt: str, out: str | os.PathLike, *, force: bool = False,
           project_path: str | os.PathLike | None = None) -> list[Path]:
    """Write the export; returns the files written. `project_path` is the project's file, if
    it has one: the export never writes over it (nor over the weights it reads); existing
    files are replaced only with `force` (see check_destination)."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format '{fmt}' (one of: {', '.join(FORMATS)})")
    wf = weights_file(weights) if weights is not None else None
    check_destination("bundle" if fmt == "script" else fmt, out, force=force,  # (folders)
                      project_path=project_path, weights_path=wf)
    c = trained_model(project, wf)
    if not c.inputs or not c.outputs:
        raise ExportError("the model needs at least one Input and one Output node to export")
    refusal = format_refusal(c, fmt)
    if refusal is not None:
        raise ExportError(f"{FORMAT_TITLES[fmt]}: {refusal}")
    if fmt in ("torchscript", "onnx", "pt2"):
        for g in c.steps:  # traced: the loop runs its max_len steps (the same tokens)
            c.module(g).early_stop = False
    about = data_labels(project, project_path)
    if fmt == "script":  # (its own module; it reads the data and the project's path)
        from .export_script import _script
        return _script(project, c, Path(out), about, weights_given=wf is not None,
                       project_path=project_path)
    from .export_pt2 import _pt2  # (its own module: it imports this one's helpers)
    return {"bundle": _bundle, "torchscript": _torchscript, "onnx": _onnx, "pt2": _pt2,
            "python": _python}[fmt](project, c, Path(out), about)


FORMAT_TITLES = {"bundle": "Bundle", "torchscript": "TorchScript", "onnx": "ONNX",
                 "pt2": "ExportedProgram", "python": "Python file",
                 "script": "Training script"}


def format_refusal(c: Compiled, fmt: str) -> str | None:
    """Why `fmt` always fails for this model (whatever its weights), or None. A detector's
    post-processing keeps a different number of boxes per image: TorchScript keeps that loop
    (scripted), torch's ONNX exporters cannot write it (issue 13), and torch.export cannot
    capture it (its RoI pooling and NMS branch on how many boxes there are)."""
    if fmt in ("python", "script"):  # (the script holds the python file)
        return _python_refusal(c)
    if fmt not in ("onnx", "pt2"):
        return None
    if has_loops(c.model):
        return ("a recurrent loop runs its cell once per time step, and this exporter would "
                "unroll it over the example's steps (fixing T); export the python file, "
                "TorchScript (its loop scripted) or the bundle instead")
    traced = {node.name for node in c.model.graph.nodes}
    nms = [n for n in c.analysis.order if n in traced
           and any(p.role == "det_boxes" for p in c.graph.spec(n).outputs)]
    if not nms:
        return None
    what = (f"the detector's post-processing ('{nms[0]}': score threshold and non-maximum "
            "suppression) keeps a different number of boxes for each image")
    if fmt == "pt2":
        return (f"{what}, and torch.export cannot capture shapes that depend on the data "
                "(the boxes' RoI pooling and NMS); export TorchScript, the python file or "
                "the bundle instead")
    return (f"{what}, a loop torch's ONNX exporters cannot write yet; export TorchScript, "
            "the python file or the bundle instead")


def _python_refusal(c: Compiled) -> str | None:
    """Blocks the Python file cannot write as classes yet (runtime/codegen_blocks.py)."""
    if c.containers and has_loops(c.model):  # (codegen_loops writes a loop at the top only)
        return ("a recurrent loop inside a block cannot be written as Python classes yet; "
                "export TorchScript or the bundle instead")
    if c.containers and c.steps:  # a step's blocks must run in it alone (codegen_steps)
        from .codegen_steps import step_problem
        from .compile import _reaching_outputs
        model = _reaching_outputs(c.graph, c.analysis.phases.model_nodes(c.analysis.order),
                                  None)
        return step_problem(c, model)
    return None


def refused_formats(project: Project) -> dict[str, str]:
    """The formats that always fail for the project's model, each with its reason (what the
    export dialog does not offer). Empty when the graph does not compile: the export itself
    then says why."""
    try:
        c = compile_graph(project.graph, standardize=project.data.standardize,
                          normalize=project.data.augment.normalize)
    except CompileError:
        return {}
    return {f: r for f in FORMATS if (r := format_refusal(c, f)) is not None}


@dataclass
class DataLabels:
    """What the data tells an exported model's user: the token vocabulary (token id -> text),
    the class names (class index -> name), and for an Input, how its values were made from
    the raw data (a picture's pixels / 255 ...). Every format carries the first two: the
    bundle as vocab.json and classes.json, TorchScript as extra files of those names, ONNX
    as metadata (vocab, classes), the python file as VOCAB and CLASSES and its docstring."""
    vocab: list[str] | None = None
    classes: list[str] | None = None
    inputs: dict[str, str] = field(default_factory=dict)

    def files(self) -> dict[str, str]:
        """{'vocab.json': ..., 'classes.json': ...}: the JSON of those it has."""
        return {f"{k}.json": json.dumps(v, ensure_ascii=False)
                for k, v in (("vocab", self.vocab), ("classes", self.classes)) if v}


def data_labels(project: Project, project_path: str | os.PathLike | None = None) -> DataLabels:
    """The project's data's vocabulary, class names and input notes, as far as they can be
    known without loading user data (the dataset's DatasetSpec.note reads only names; a
    relative path is taken from the project file's folder). Data that cannot be read gives
    no classes: the export goes on without them."""
    from .data import DATASETS, DataError
    spec = DATASETS.get(project.data.dataset)
    note = None
    if spec is not None and spec.note is not None:
        options = {k: o.default for k, o in spec.options.items()} | dict(project.data.options)
        base_dir = Path(project_path).resolve().parent if project_path else None
        if all(k in spec.options and spec.options[k].check(v) for k, v in options.items()):
            try:  # (options the dataset refuses: training says why; the export goes on)
                note = spec.note(options, base_dir)
            except (DataError, OSError):
                note = None
    inputs = {}
    if note is not None:  # the Inputs the data binding feeds from a described field
        inputs = {n: note.fields[f] for n, f in project.data.bind.items() if f in note.fields}
    return DataLabels(dataset_vocab(project), note.classes if note else None, inputs)


def _bundle(project: Project, c: Compiled, out: Path, about: DataLabels) -> list[Path]:
    extra = about.files()
    with atomic_folder(out) as tmp:
        save_weights(c.model, tmp / "model.safetensors", {"project": "project.json"})
        project.save(tmp / "project.json")
        for name, text in extra.items():
            (tmp / name).write_text(text + "\n", encoding="utf-8")
    return [out / "model.safetensors", out / "project.json", *(out / n for n in extra)]


def dataset_vocab(project: Project) -> list[str] | None:
    """The token vocabulary (id -> text) of the project's dataset when it is a generated or
    shipped text dataset (characters, dates, reverse, copy): what an export needs to read a
    typed input and write its output. None for other data (read from the user's files)."""
    from .data import DATASETS, DataError, load_dataset
    spec = DATASETS.get(project.data.dataset)
    if spec is None or spec.make.__module__ not in ("runtime.data.sequences", "runtime.data.seq2seq"):
        return None
    try:
        return load_dataset(project.data.dataset, project.data.options,
                            project.training.seed).vocab
    except DataError:
        return None


def _torchscript(project: Project, c: Compiled, out: Path, about: DataLabels) -> list[Path]:
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
        model = c.model
        if has_loops(model):  # a recurrent loop: its time loop scripted (any T)
            try:
                model = scripted_loops(model, example_inputs(c))
            except Exception as e:  # noqa: BLE001: deliberate boundary: torch.jit's errors
                raise ExportError(  # have no one class; the user gets one line
                    f"TorchScript cannot script the recurrent loop ({type(e).__name__}: "
                    f"{(str(e).splitlines() or [''])[0][:200]}); export the python file "
                    "or the bundle instead") from None
        traced = torch.jit.trace(model, example_inputs(c), check_trace=False)
        _check_trace(c, traced)
        buf = io.BytesIO()
        torch.jit.save(traced, buf, _extra_files=about.files())
    atomic_write_bytes(out, buf.getvalue())
    return [out]


def _check_trace(c: Compiled, traced) -> None:
    lengths = {name: length + 2 for name, length in example_lengths(c).items()}
    args = example_inputs(c, batch=3, lengths=lengths, seed=0)
    want, got = _flat(c.model(*args)), None
    try:
        got = _flat(traced(*args))
    except (RuntimeError, IndexError, ValueError, torch.jit.Error):
        pass  # torch's errors from a trace run at sizes it did not see: a shape mismatch, an
        # index past a size it fixed, a scripted function's torch.jit.Error (anything else is
        # a bug, not the trace)
    if got is None or len(got) != len(want) or not all(
            g.shape == w.shape and torch.allclose(g, w, rtol=1e-4, atol=1e-5)
            for g, w in zip(got, want)):
        sizes = ", ".join(f"{k} = {v}" for k, v in {"batch": 3, **lengths}.items())
        raise ExportError(f"the TorchScript trace does not generalise: at {sizes} it differs "
                          "from the model (the trace fixed a size); export "
                          f"{'the' if has_loops(c.model) else 'ONNX or the'} python file "
                          "instead")


def _flat(out) -> list[torch.Tensor]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _onnx(project: Project, c: Compiled, out: Path, about: DataLabels) -> list[Path]:
    """torch's exporter (dynamo), the batch and every size the data sets dynamic. Where that
    exporter fixes such a size (torch 2.13 unrolls nn.RNN over the example's 5 steps), the
    TorchScript-based exporter, which writes ONNX's own RNN/LSTM/GRU ops with named dynamic
    axes. A model with a decoding loop takes them the other way round: its decoder runs
    max_len times over the tokens so far, and torch's exporter traces all of that with
    symbolic sizes (25-60 s for attention_seq2seq, the TorchScript-based one 1 s). A model
    with a size the data sets or a decoding loop is then run at other sizes in onnxruntime,
    if it is installed, and must agree with the model."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise ExportError("ONNX export needs the onnx and onnxscript packages "
                          "(pip install onnx onnxscript)") from None
    sequences = any(len(axes) > 1 for axes in symbolic_axes(c).values())
    check = sequences or bool(c.steps)  # run in onnxruntime at other sizes
    first, second = (_onnx_torchscript, _onnx_dynamo) if c.steps else \
        (_onnx_dynamo, _onnx_torchscript)
    with temp_beside(out) as tmp:
        try:
            try:
                first(c, tmp)
                if sequences:
                    _symbolic_output_shapes(c, tmp)
                fixed = _fixed_size(c, tmp) if check else None
            except Exception:  # noqa: BLE001: deliberate: whatever the first exporter raises
                if not check:  # (torch's exporters fail in many ways), the second one is tried
                    raise
                fixed = "the first exporter failed"
            if fixed is not None:
                second(c, tmp)
                _symbolic_output_shapes(c, tmp)
                problem = _fixed_size(c, tmp)
                if problem is not None:
                    raise ExportError(f"ONNX export fixed a size the data sets: {problem}")
            import onnx
            props = {name[:-len(".json")]: text for name, text in about.files().items()}
            if props:  # what the token ids and the class indices mean, in the model's metadata
                m = onnx.load(tmp)
                onnx.helper.set_model_props(m, props)
                onnx.save(m, tmp)
            onnx.checker.check_model(tmp)
            rename_onto(tmp, out)
        except ExportError:
            raise
        except Exception as e:  # noqa: BLE001: deliberate boundary: torch's exporters and onnx
            # raise errors of many types; the user gets one line naming the type, not a trace
            raise ExportError(f"ONNX export failed: {type(e).__name__}: "
                              f"{str(e).splitlines()[0]}") from None
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
    feeds = {n: a.numpy() for n, a in zip(c.inputs, args)}
    try:
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        got = session.run(None, feeds)
    except Exception as e:  # noqa: BLE001: deliberate: onnxruntime's errors (Fail,
        # InvalidArgument, RuntimeException, ...) share no base class; only its calls are here
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
    except Exception:  # noqa: BLE001: deliberate: the annotations are optional (runtimes
        pass  # infer them themselves), so onnx's inference failing in any way is no failure
    onnx.save_model(model, path)


def _python(project: Project, c: Compiled, out: Path, about: DataLabels) -> list[Path]:
    out, weights = output_paths("python", out)
    save_weights(c.model, weights, {"project": project.name})
    atomic_write_text(out, standalone_file(c, project.name, weights.name, module=out.stem,
                                           vocab=about.vocab, classes=about.classes,
                                           input_notes=about.inputs))
    return [out, weights]
