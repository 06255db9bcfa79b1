"""Export a trained model: `bundle` (safetensors + project JSON), `torchscript`, `onnx`, or
`python` (one standalone, readable file needing only torch and safetensors).

Weights are read from a .safetensors file, a checkpoint folder, or a run folder (its best
checkpoint, else its last); never by unpickling. Every file is written to a temporary name
and renamed, so a failed export leaves nothing half-written.
"""
from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

import torch

from graph.fileio import atomic_folder, atomic_write_bytes, atomic_write_text, new_file_mode
from graph.project import Project

from .codegen import standalone_file
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
            load_weights(c.model, wf)
        except WeightsError as e:
            raise ExportError(str(e)) from None
    c.model.eval()
    return c


def example_inputs(c: Compiled, batch: int = 2) -> tuple:
    out = []
    for n in c.inputs:
        t = c.analysis.out_type(n, c.graph.spec(n).value_port)
        shape = (batch, *t.shape[1:])
        out.append(torch.zeros(shape, dtype=torch.long) if t.dtype == "int64"
                   else torch.rand(shape))
    return tuple(out)


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
    return {"bundle": _bundle, "torchscript": _torchscript, "onnx": _onnx,
            "python": _python}[fmt](project, c, Path(out))


def _bundle(project: Project, c: Compiled, out: Path) -> list[Path]:
    with atomic_folder(out) as tmp:
        save_weights(c.model, tmp / "model.safetensors", {"project": "project.json"})
        project.save(tmp / "project.json")
    return [out / "model.safetensors", out / "project.json"]


def _torchscript(project: Project, c: Compiled, out: Path) -> list[Path]:
    import warnings
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # asked for TorchScript: no nagging
        traced = torch.jit.trace(c.model, example_inputs(c), check_trace=False)
        buf = io.BytesIO()
        torch.jit.save(traced, buf)
    atomic_write_bytes(out, buf.getvalue())
    return [out]


def _onnx(project: Project, c: Compiled, out: Path) -> list[Path]:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise ExportError("ONNX export needs the onnx and onnxscript packages "
                          "(pip install onnx onnxscript)") from None
    args = example_inputs(c)
    batch = torch.export.Dim("N", min=1)
    dynamic = {n: {0: batch} for n in c.inputs}
    # graph.fileio's temp name scheme (with the pid), so a killed export's temp is known stale
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.{os.getpid()}.", suffix=".tmp",
                               dir=out.parent)
    os.close(fd)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the exporter reports progress
            torch.onnx.export(c.model, args, tmp, dynamo=True, input_names=list(c.inputs),
                              output_names=list(c.outputs), dynamic_shapes=dynamic,
                              external_data=False, verbose=False)
        import onnx
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


def _python(project: Project, c: Compiled, out: Path) -> list[Path]:
    out, weights = output_paths("python", out)
    save_weights(c.model, weights, {"project": project.name})
    atomic_write_text(out, standalone_file(c, project.name, weights.name, module=out.stem))
    return [out, weights]
