"""Import a PyTorch model as an editable graph, verified equal (issue 26).

    import_model(model, inputs) -> Imported   (trace.py -> build.py -> compile, weights, check)
    import_source("path/file.py:Name", inputs, init) -> Imported
    Imported.save(project_path)  writes the project and PROJECT.safetensors beside it

The compiled graph and the original module run on the example inputs and on fresh random
inputs of the same shapes, in eval mode: the largest absolute difference is the report's
figure, and above TOLERANCE the import is refused with it. Nothing is written before that.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .source import ImportProblem, InputSpec, load_module, parse_input

__all__ = ["ImportProblem", "InputSpec", "Imported", "import_model", "import_source",
           "load_module", "parse_input", "verify"]

TOLERANCE = 1e-4


@dataclass
class Imported:
    project: object  # graph.project.Project
    compiled: object  # runtime.compile.Compiled, holding the original's weights
    name: str
    max_abs_diff: float
    seconds: float
    blocks: int
    nodes_by_type: dict[str, int]
    unmapped: list[str] = field(default_factory=list)
    tracer: str = ""  # a PyTorch module's: "fx", or "torch.export" where fx could not trace

    @property
    def nodes(self) -> int:
        return sum(self.nodes_by_type.values())

    def report(self) -> str:
        kinds = ", ".join(f"{t} {n}" for t, n in sorted(self.nodes_by_type.items(),
                                                         key=lambda kv: (-kv[1], kv[0])))
        return (f"Imported {self.name}: {self.nodes} nodes ({kinds}); "
                f"{self.blocks} block definition{'s' if self.blocks != 1 else ''}; "
                f"largest difference from the original {self.max_abs_diff:.3g} "
                f"(refused above {TOLERANCE:g}); {self.seconds:.2f} s"
                + (f"; traced with {self.tracer}" if self.tracer not in ("", "fx") else ""))

    def summary(self) -> dict:
        return {"nodes": self.nodes, "blocks": self.blocks, "unmapped": self.unmapped,
                "max_abs_diff": self.max_abs_diff, "seconds": round(self.seconds, 3),
                **({"tracer": self.tracer} if self.tracer else {})}

    def save(self, path: str | Path) -> tuple[Path, Path]:
        """The project file and its weights beside it (PROJECT.safetensors), each written
        whole or not at all."""
        from runtime.weights import save_weights
        path = Path(path)
        weights = path.with_suffix(".safetensors")
        save_weights(self.compiled.modules, weights, {"imported_from": self.name})
        self.project.training.initial_weights = weights.name  # train, Try and export start there
        self.project.save(path)
        return path, weights


def _inputs_for(model_args: list[str], inputs: list[InputSpec]) -> list[InputSpec]:
    given = {i.name: i for i in inputs}
    if set(given) != set(model_args):
        missing = [a for a in model_args if a not in given]
        extra = [n for n in given if n not in model_args]
        say = []
        if missing:
            say.append(f"no --input for {', '.join(missing)}")
        if extra:
            say.append(f"--input {', '.join(extra)}: the forward has no such argument")
        raise ImportProblem(f"the model's forward takes ({', '.join(model_args)}): "
                            + "; ".join(say))
    return [given[a] for a in model_args]


def import_model(model: nn.Module, inputs: list[InputSpec], name: str = "") -> Imported:
    from graph.project import Project
    from runtime.compile import module_at

    from .build import build_graph, compile_built

    t0 = time.perf_counter()
    name = name or type(model).__name__
    model = model.eval()
    import inspect
    try:
        args = [p for p in inspect.signature(model.forward).parameters]
    except (TypeError, ValueError):
        args = [i.name for i in inputs]
    inputs = _inputs_for(args, inputs)
    _runs(model, inputs)
    traced, tracer = _trace(model, inputs)
    built = build_graph(traced, inputs)
    g = built.graph
    compiled = compile_built(built)
    with torch.no_grad():
        for src_path, dst_path in built.paths.items():
            src = traced.leaves[src_path]
            if not src.state_dict():
                continue  # nothing to carry (a ReLU; a node may build it as a function)
            dst = module_at(compiled.modules, dst_path)
            if dst is None:
                raise ImportProblem(f"{src_path}: no module at '{dst_path}' in the graph")
            try:
                dst.load_state_dict(src.state_dict())
            except RuntimeError as e:
                raise ImportProblem(f"{src_path} -> node '{dst_path}': its weights do not fit "
                                    f"({str(e).splitlines()[-1].strip()})") from None
    compiled.model.eval()
    diff = verify(model, compiled.model, inputs)
    seconds = time.perf_counter() - t0
    if not diff <= TOLERANCE:
        raise ImportProblem(f"the imported graph computes something else: largest difference "
                            f"from the original {diff:.3g} (above {TOLERANCE:g}); nothing was "
                            "written")
    project = Project(graph=g, name=name, description=f"Imported from the PyTorch module {name}.")
    return Imported(project, compiled, name, diff, seconds, built.blocks, built.nodes_by_type,
                    tracer=tracer)


def _trace(model: nn.Module, inputs: list[InputSpec]):
    """(Traced, tracer): torch.fx first; where it cannot trace (Python control flow on the
    inputs), torch.export on the example inputs (export_trace.py)."""
    from .trace import trace
    try:
        return trace(model, [i.name for i in inputs]), "fx"
    except ImportProblem as e:
        if not str(e).startswith("torch.fx cannot trace"):
            raise
        fx_problem = str(e)
    from .export_trace import TRACER, export_trace
    try:
        return export_trace(model, inputs), TRACER
    except ImportProblem as e:
        raise ImportProblem(f"{fx_problem}; {e}") from None


def _runs(model: nn.Module, inputs: list[InputSpec]) -> None:
    """The original must accept the example inputs before anything else is tried."""
    xs = [i.example(torch.Generator().manual_seed(0)) for i in inputs]
    with torch.no_grad():
        try:
            out = model(*xs)
        except Exception as e:  # noqa: BLE001 (the user's module)
            first = (str(e).splitlines() or [""])[0]
            raise ImportProblem(
                f"the module does not accept inputs of shape "
                f"{'; '.join(f'{i.name} {list(i.shape)} {i.dtype}' for i in inputs)}: "
                f"{type(e).__name__}: {first}") from None
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    bad = [k for k, o in enumerate(outs, 1) if isinstance(o, torch.Tensor)
           and o.is_floating_point() and not torch.isfinite(o).all()]
    if bad:  # nothing to compare the graph with: say so, rather than a difference of nan
        raise ImportProblem(f"the module's output {bad[0]} holds NaN or infinite values on the "
                            "example inputs (are its weights finite?): the import cannot be "
                            "checked, so it is refused")


def verify(original: nn.Module, imported: nn.Module, inputs: list[InputSpec],
           trials: int = 3) -> float:
    """The largest absolute difference between the two on the example inputs (seed 0) and
    `trials - 1` fresh random ones, in eval mode."""
    worst = 0.0
    for trial in range(trials):
        gen = torch.Generator().manual_seed(trial)
        xs = [i.example(gen) for i in inputs]
        with torch.no_grad():
            try:
                want = original(*xs)
            except Exception as e:  # noqa: BLE001 (the user's module)
                raise ImportProblem(f"the original module fails on inputs of shapes "
                                    f"{', '.join(str(list(x.shape)) for x in xs)}: "
                                    f"{type(e).__name__}: {e}") from None
            got = imported(*xs)
        want = list(want) if isinstance(want, (tuple, list)) else [want]
        got = list(got) if isinstance(got, (tuple, list)) else [got]
        for w, o in zip(want, got):
            if w.shape != o.shape:
                return float("inf")
            if w.numel():
                worst = max(worst, (w.double() - o.double()).abs().max().item())
    return worst


def import_source(source: str, inputs: list[InputSpec], init: str | None = None,
                  module=None) -> Imported:
    """`path/file.py:NAME` (`module`: that file already run) or `path/model.onnx`."""
    if source.endswith(".onnx"):
        from .onnx_import import import_onnx
        return import_onnx(source, inputs)
    model, name = load_module(source, init, module)
    return import_model(model, inputs, name)
