"""A project's starting weights (`training.initial_weights`): the weights a run starts from
instead of the model's initialisation, e.g. the PROJECT.safetensors `layerloom import` writes
beside an imported project. Used by the Trainer (before its optimizer is made), by
`layerloom train --weights`, and by the app (the Try panel and the export dialog before any
run exists).

What is taken from the file:
- every weight of the model (Inputs → Outputs, what exports) must be there, under the graph's
  names and shapes; a missing, extra or reshaped weight is refused naming the file and the
  node (runtime/weights.py load_weights);
- a module outside the model (a GAN's discriminator, a loss's own weights) and the
  standardizers (data.standardize) are taken from the file when it holds them, else
  initialised (fitted, for the standardizers) as usual. Fitted values that come from the file
  are kept, not fitted again: the weights were learned against that scaling.
- fitted buffers of layers (BatchNorm's running statistics) are weights like any other: the
  file's values are kept.
"""
from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from .compile import Compiled
from .weights import WeightsError, load_weights


def resolve(value: str | os.PathLike | None, base_dir: str | os.PathLike | None) -> Path | None:
    """The starting weights' path: relative to the project file's folder (`base_dir`; the
    working folder when the project was never saved), or absolute. None when unset."""
    if not value:
        return None
    p = Path(value).expanduser()
    if p.is_absolute() or base_dir is None:
        return p
    return Path(base_dir) / p


def project_start(project, base_dir: str | os.PathLike | None) -> Path | None:
    """The project's own starting weights (training.initial_weights), resolved; None if unset."""
    return resolve(project.training.initial_weights, base_dir)


def weights_path(path: str | os.PathLike) -> Path:
    """The .safetensors file of a file, a checkpoint or a run folder (what export's --weights
    accepts); WeightsError naming the path when there is none."""
    from .export import ExportError, weights_file
    try:
        return weights_file(path)
    except ExportError as e:
        raise WeightsError(str(e)) from None


def _keys(path: Path) -> set[str]:
    """The names in a safetensors file (its header only); empty if it cannot be read (then
    load_weights says why)."""
    try:
        from safetensors import safe_open
        with safe_open(str(path), framework="pt") as f:
            return set(f.keys())
    except Exception:  # noqa: BLE001: load_weights reads it again and reports the problem
        return set()


def load_start(c: Compiled, path: str | os.PathLike) -> set[str]:
    """Load the starting weights into the compiled graph's modules (see the module's
    docstring for what is taken). Returns the standardised Input nodes whose fitted values
    came from the file (not to be fitted again). WeightsError names the file and the node."""
    wf = weights_path(path)
    keys = _keys(wf)
    fitted = set(c.standardizers.values())
    needed = {k.split(".")[0] for k in c.model.state_dict()} - fitted
    view = nn.Module()  # the modules to load, shared with c.modules (loading writes into them)
    for name, m in c.modules.named_children():
        own = [f"{name}.{k}" for k in m.state_dict()]
        if own and (name in needed or any(k in keys for k in own)):
            view.add_module(name, m)
    load_weights(view, wf)
    return {n for n, name in c.standardizers.items() if name in view._modules}


def node_of(message: str) -> str | None:
    """The node a load_weights message names ("'fc1.weight' has shape ..." or "has no
    weights for fc1.weight"), for the canvas to select; None if it names none."""
    import re
    m = re.search(r"node '([^']+)'", message) or re.search(r"weights for ([^.,\s]+)\.",
                                                           message)
    return m.group(1) if m else None


def check_start(project, path: str | os.PathLike) -> Path:
    """Whether `path` fits the project's graph (compiled here, on the CPU): its weights file,
    or WeightsError naming the file and the node at fault. A graph that does not compile is
    not judged here (training says what is wrong with it)."""
    from .compile import CompileError, compile_graph
    wf = weights_path(path)
    try:
        c = compile_graph(project.graph, standardize=project.data.standardize)
    except (CompileError, RuntimeError, ValueError):
        return wf
    load_start(c, wf)
    return wf
