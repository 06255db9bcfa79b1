"""The `pt2` export: a torch.export ExportedProgram saved with torch.export.save, which a
PyTorch 2 user loads with `torch.export.load(path).module()` (torch only). The batch and
every size the data sets (an Input shaped ['T', 2]) stay dynamic (torch.export.Dim).

Its own module (runtime/export.py holds the other writers and export()); export() calls
`_pt2` like any other writer. A detector is refused before any work (export.format_refusal:
its post-processing keeps a data-dependent number of boxes); any other model torch.export
cannot capture, or captures with a size fixed, fails with one line saying why and which
format to export instead.
"""
from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import torch

from graph.fileio import atomic_write_bytes
from graph.project import Project

from .codegen import example_lengths
from .compile import Compiled
from .export import DataLabels, _flat, _fresh_rnn_dispatch, dynamic_shapes, example_inputs
from .export_paths import ExportError

INSTEAD = "export TorchScript, ONNX or the python file instead"


def _pt2(project: Project, c: Compiled, out: Path, about: DataLabels) -> list[Path]:
    """Captured with torch.export (non-strict), its program run at batch 3 and 1 (each size
    the data sets + 2) and compared with the model, saved into memory, then written to a
    temporary name beside `out` and renamed onto it (graph.fileio.atomic_write_bytes, as
    TorchScript: torch.export.save wants a buffer or a name ending in .pt2). The vocabulary
    and class names go in as extra files (vocab.json, classes.json:
    torch.export.load(path, extra_files={"classes.json": ""}) reads them)."""
    ep = _capture(c)
    _check(c, ep)
    buf = io.BytesIO()
    try:
        torch.export.save(ep, buf, extra_files=about.files() or None)
    except Exception as e:  # noqa: BLE001: deliberate boundary: torch's serialiser raises
        # errors of many types (an op or a constant it cannot write); nothing is written yet
        raise ExportError(f"torch.export.save failed ({type(e).__name__}: "
                          f"{(str(e).splitlines() or [''])[0][:300]}); {INSTEAD}") from None
    atomic_write_bytes(out, buf.getvalue())
    return [out]


def _capture(c: Compiled) -> torch.export.ExportedProgram:
    """torch.export.export of the inference model with the Inputs' dynamic sizes. When
    torch.export narrows a size's range (a positional encoding's max_len bounds T), the
    narrowed range is taken; when it would fix a size at the example's value, the model
    is refused: the file would only take inputs of that size."""
    args = example_inputs(c)
    shapes = dynamic_shapes(c)
    spec = tuple(shapes[n] for n in c.inputs)
    try:
        with _capturing():
            try:
                return torch.export.export(c.model, args, dynamic_shapes=spec)
            except torch._dynamo.exc.UserError as e:
                refined = _refined(e, spec)
                if refined is None:
                    raise
                return torch.export.export(c.model, args, dynamic_shapes=refined)
    except ExportError:
        raise
    except torch._dynamo.exc.UserError as e:
        fixed = _fixed_sizes(_message(e))
        if fixed:
            raise ExportError(f"torch.export would fix {fixed} (the example's size): the file "
                              f"would take no other; {INSTEAD}") from None
        raise ExportError(_failed(e)) from None
    except Exception as e:  # noqa: BLE001: deliberate boundary: torch.export raises errors of
        # many types (data-dependent guards, unsupported ops); the user gets one line
        raise ExportError(_failed(e)) from None


def _failed(e: Exception) -> str:
    return (f"torch.export cannot capture this model ({type(e).__name__}: "
            f"{(str(e).splitlines() or [''])[0][:300]}); {INSTEAD}")


@contextlib.contextmanager
def _capturing():
    """What a capture runs under: torch's while-loop decompositions of aten.lstm and aten.gru
    (torch.export would otherwise unroll nn.LSTM / nn.GRU over the example's T and fix it;
    nn.RNN has none: its T is then refused), with the RNN ops' dispatch caches emptied
    around them (export._fresh_rnn_dispatch), and dynamo's caches reset before and after: the
    while loop's body is captured by dynamo, and a body cached by an earlier export (a GRU of
    another model) has guards that fix the next model's T."""
    try:
        from torch.export._patches import (register_gru_while_loop_decomposition,
                                           register_lstm_while_loop_decomposition)
        loops = (register_lstm_while_loop_decomposition, register_gru_while_loop_decomposition)
    except ImportError:  # another torch: no decomposition, a sequence's T may then be refused
        loops = ()
    torch._dynamo.reset()
    try:
        with contextlib.ExitStack() as stack, warnings.catch_warnings():
            # torch's own deprecations (_check_is_size in the while loops' bodies)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*were assigned during export")
            stack.enter_context(_fresh_rnn_dispatch())
            for loop in loops:
                stack.enter_context(loop())
            yield
    finally:
        torch._dynamo.reset()


def _refined(e: Exception, spec: tuple) -> tuple | None:
    """The dynamic shapes with torch.export's suggested fixes, if they only narrow ranges;
    None if a fix fixes a size (or none can be read from the message)."""
    try:
        refined = torch.export.dynamic_shapes.refine_dynamic_shapes_from_suggested_fixes(
            _message(e), spec)
    except Exception:  # noqa: BLE001: no fix in the message: the first error stands
        return None
    for before, after in zip(spec, refined):
        if any(after.get(i) is None or isinstance(after.get(i), int) for i in before):
            return None  # a size fixed (an int in place of a Dim): refused
    return tuple(refined)


def _message(e: Exception) -> str:
    """A UserError's own message (its str() goes on past the suggested fixes)."""
    return getattr(e, "msg", None) or str(e)


def _fixed_sizes(message: str) -> str:
    """The sizes torch.export's constraint message says the model fixes: "T = 5" lines of its
    suggested fixes, joined ('T = 5, S = 6'), or ''."""
    fixes = message.split("Suggested fixes:")[1:]
    lines = [line.strip() for line in (fixes[0].splitlines() if fixes else [])]
    return ", ".join(line for line in lines
                     if " = " in line and line.split(" = ")[1].strip().isdigit())


def _check(c: Compiled, ep: torch.export.ExportedProgram) -> None:
    """The captured program, run at batch 3 and at batch 1, each size the data sets 2 longer
    than the example, gives the model's outputs (a capture that fixed a size fails here
    instead of in the user's hands)."""
    lengths = {name: length + 2 for name, length in example_lengths(c).items()}
    module = ep.module()
    for batch in (3, 1):
        args = example_inputs(c, batch=batch, lengths=lengths, seed=0)
        sizes = ", ".join(f"{k} = {v}" for k, v in {"batch": batch, **lengths}.items())
        with torch.no_grad():
            want = _flat(c.model(*args))
            try:
                got = _flat(module(*args))
            except Exception as e:  # noqa: BLE001: deliberate: the program's guards raise
                # AssertionError, RuntimeError, ...; any failure here is the export's
                raise ExportError(f"the ExportedProgram fails at {sizes} "
                                  f"({type(e).__name__}: {(str(e).splitlines() or [''])[0]}); "
                                  f"{INSTEAD}") from None
        if len(got) != len(want) or not all(
                g.shape == w.shape and torch.allclose(g, w, rtol=1e-4, atol=1e-5)
                for g, w in zip(got, want)):
            raise ExportError(f"the ExportedProgram differs from the model at {sizes}; "
                              f"{INSTEAD}")
