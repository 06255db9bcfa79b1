"""What an evaluation reads: the project compiled, the trained weights loaded (the fitted
standardisation and normalisation come with them: they are buffers of the model, as the Try
panel and the exports load them), the dataset split exactly as training splits it
(runtime/train.split with the project's seed and val_split) and the chosen split run through
the objective in evaluation mode, batch by batch, keeping each loss's prediction and target."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from graph.project import Project

from .. import epoch_metrics as EM
from ..compile import CompileError, Compiled, compile_graph
from ..data import DataError, load_dataset
from ..export import ExportError, weights_file
from ..train import split as train_split
from ..weights import WeightsError, load_weights

BATCH = 256


class EvaluateError(Exception):
    """A problem in words (the file, node or setting at fault): never a traceback."""


@dataclass
class Source:
    project: Project
    compiled: Compiled
    weights: Path
    split: str  # 'val' or 'train'
    indices: torch.Tensor | None = None  # dataset positions of the split's samples, in order
    dataset: object = None
    needed: list[str] = field(default_factory=list)  # the objective's data nodes, in order
    tensors: list[torch.Tensor] | None = None  # the split held whole (in memory)
    stream: object = None  # or read batch by batch (streamed data)
    base_dir: str | os.PathLike | None = None

    @property
    def n(self) -> int:
        return 0 if self.indices is None else len(self.indices)

    @property
    def classes(self) -> list[str] | None:
        return getattr(self.dataset, "classes", None)

    @property
    def vocab(self) -> list | None:
        return getattr(self.dataset, "vocab", None)

    def batches(self, size: int = BATCH):
        """The split's tensors (in `needed` order), `size` samples at a time, in order."""
        if self.tensors is not None:
            n = self.tensors[0].shape[0] if self.tensors else 0
            for i in range(0, n, size):
                yield [t[i:i + size] for t in self.tensors]
        elif self.stream is not None:
            yield from self.stream.split(self.split).batches(size)

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()


def open_source(project: Project, base_dir: str | os.PathLike | None,
                weights: str | os.PathLike, which: str = "val") -> Source:
    """The project compiled with `weights` (a .safetensors file, a checkpoint or a run folder)
    loaded, and split `which` ('val' or 'train') of its dataset. A generator (noise in) gets no
    data: its evaluation draws noise."""
    if which not in ("val", "train"):
        raise EvaluateError(f"--split {which}: the split is 'val' or 'train'")
    try:
        c = compile_graph(project.graph, standardize=project.data.standardize,
                          normalize=project.data.augment.normalize)
    except CompileError as e:
        raise EvaluateError(f"the graph has problems: {e}") from None
    except (RuntimeError, ValueError) as e:  # torch refusing a size
        raise EvaluateError(f"the graph cannot be compiled: {e}") from None
    try:
        wf = weights_file(weights)
        load_weights(c.model, wf, set(c.modules.state_dict()))
    except (ExportError, WeightsError) as e:
        raise EvaluateError(str(e)) from None
    except OSError as e:
        raise EvaluateError(f"{e.filename or weights}: {e.strerror or e}") from None
    c.modules.eval()
    c.model.eval()
    if c.objective is not None:
        c.objective.eval()
    src = Source(project, c, wf, which, base_dir=base_dir)
    if c.inputs and all(n in c.noise_inputs for n in c.inputs):
        return src  # a generator: noise in, samples out
    if c.objective is None:
        raise EvaluateError("nothing to evaluate against: the graph has no loss node comparing "
                            "the model's output with a Target")
    s, data = project.training, project.data
    try:
        ds = load_dataset(data.dataset, data.options, s.seed, base_dir)
    except DataError as e:
        raise EvaluateError(str(e)) from None
    except OSError as e:
        raise EvaluateError(f"{e.filename or data.dataset}: {e.strerror or e}") from None
    src.dataset = ds
    src.needed = needed = [p for p in c.feeds if p not in c.noise_inputs]
    try:
        val_idx, train_idx = train_split(len(ds), s.seed, s.val_split, ds.name)
    except DataError as e:
        raise EvaluateError(str(e)) from None
    idx = val_idx if which == "val" else train_idx
    if not len(idx):
        raise EvaluateError(f"the project holds out no validation samples (training."
                            f"val_split is {s.val_split}): evaluate --split train instead")
    src.indices = idx
    try:
        from ..data.stream import is_streamed
        if is_streamed(ds):
            from ..loader import Stream, bind_stream
            plan = bind_stream(c, data.bind, ds, needed)
            src.stream = Stream(ds, plan, train_idx, val_idx, BATCH, data.workers,
                                torch.device("cpu"), False, False)
        else:
            from ..binding import bind_data
            bound = bind_data(c, data.bind, ds, needed)
            src.tensors = [bound[k][idx] for k in needed]
    except DataError as e:
        raise EvaluateError(str(e)) from None
    return src


@dataclass
class Predictions:
    """Per loss node whose target comes from a Target: its metric kind (runtime/metrics.py),
    the prediction the loss read and that target, over the whole split in order."""
    kinds: dict[str, str]
    preds: dict[str, torch.Tensor]
    targets: dict[str, torch.Tensor]
    inputs: dict[str, torch.Tensor]  # each Input's values (kept only when small)


KEEP_INPUTS = 64 * 1024 * 1024  # bytes of inputs kept for the report (worst examples)


@torch.no_grad()
def predict(src: Source) -> Predictions:
    """Run the objective over the split in evaluation mode, in batches."""
    c = src.compiled
    kinds = EM.metric_kinds(c)
    where = {l: src.needed.index(EM.target_of(c, l)) for l in kinds}
    preds: dict[str, list] = {l: [] for l in kinds}
    targets: dict[str, list] = {l: [] for l in kinds}
    inputs: dict[str, list] = {n: [] for n in c.inputs if n in src.needed}
    kept = 0
    try:
        for batch in src.batches():
            out = c.objective(*batch)
            for l in kinds:
                preds[l].append(out["preds"][l].detach().float().cpu())
                targets[l].append(batch[where[l]].cpu())
            if kept <= KEEP_INPUTS:
                for n in inputs:
                    t = batch[src.needed.index(n)]
                    inputs[n].append(t.cpu())
                    kept += t.numel() * t.element_size()
    except (RuntimeError, ValueError) as e:
        raise EvaluateError(f"the model failed on the {src.split} split: "
                            f"{(str(e).splitlines() or [''])[0]}") from None
    cat = lambda parts: torch.cat(parts) if parts else torch.zeros(0)  # noqa: E731
    full = kept <= KEEP_INPUTS
    return Predictions(kinds, {l: cat(v) for l, v in preds.items()},
                       {l: cat(v) for l, v in targets.items()},
                       {n: cat(v) for n, v in inputs.items()} if full else {})
