"""A run's loss and metrics: over the samples an epoch trained on (from the predictions its
steps recorded, no second pass), and over a whole split in evaluation mode (at each epoch's
end for the validation split, at the run's end for both), with a decoder's exact match and
a detector's mAP where the graph has them."""
from __future__ import annotations

from typing import Callable

import torch

from graph.settings import TrainingSettings
from graph.spec import ParamRole

from . import epoch_metrics as EM
from . import metrics as M
from . import seeds
from .compile import Compiled


def ignored(c: Compiled, loss: str) -> int | None:
    """The class index a loss node leaves out (its ignore_index: padding), if it has one."""
    spec = c.graph.spec(loss)
    if spec.param_role(ParamRole.IGNORE_INDEX) is None:
        return None
    return spec.role_value(c.graph.params(loss), ParamRole.IGNORE_INDEX)


class Evaluator:
    """The metrics of one run. `needed`: the names of the data tensors, in batch order;
    `recipe`: what draws a generator's noise (its `noise` and `args`); `autocast`: the
    context a forward pass runs in."""

    def __init__(self, c: Compiled, settings: TrainingSettings, device: torch.device,
                 autocast: Callable, recipe, classes: list[str] | None, needed: list[str]):
        self.c, self.s, self.device, self.autocast = c, settings, device, autocast
        self.recipe = recipe
        self.classes = classes
        self.needed = needed
        self.kinds = EM.metric_kinds(c)  # loss node -> the kind of metric its predictions get
        self.loss_target = {l: needed.index(EM.target_of(c, l)) for l in self.kinds}

    # An epoch's training samples, from its steps' predictions -----------------------------------
    def new_records(self) -> dict[str, list]:
        return {l: [] for l in self.kinds}

    def record(self, records: dict[str, list], out: dict) -> None:
        """Keep what the metrics need of a step's predictions (`out`: the objective's)."""
        for l, kind in self.kinds.items():
            records[l].append(M.record(kind, out["preds"][l]))

    def trained(self, records: dict[str, list], tensors, seen: torch.Tensor) -> dict[str, float]:
        """The metrics of the recorded predictions against the targets of the samples `seen`
        (indices into `tensors`, in the order the steps took them)."""
        c, kinds = self.c, self.kinds
        return EM.named(c, {l: M.finish(kinds[l], records[l],
                                        tensors[self.loss_target[l]][seen], ignored(c, l))
                            for l in kinds}, kinds)

    # A whole split ---------------------------------------------------------------------------
    def validated(self, val) -> dict[str, float]:
        """The validation split's loss and metrics, named 'val_…' (none without samples)."""
        if not _count(val):
            return {}
        return {f"val_{k}": v for k, v in self.evaluate(val, decode=True).items()}

    def evaluate(self, tensors, decode: bool = False) -> dict[str, float]:
        """The loss and metrics over `tensors`; with `decode`, also the exact match of each
        decoder's greedy decoding (the inference graph) against its target, and a detector's
        mAP from its inference model's detections. `tensors`: the split's tensors, or its
        batches (runtime/loader.SplitBatches: streamed data, read batch by batch)."""
        c = self.c
        res = self._objective(tensors)
        if decode and not isinstance(tensors, (list, tuple)):
            if not c.steps:  # a detector's mAP batch by batch (or nothing more to do)
                from .evaluation_detect import detection_metrics_batched
                res.update(detection_metrics_batched(c, tensors, self.needed,
                                                     max(self.s.batch_size, 64),
                                                     self.classes, self.autocast))
                return res
            tensors = tensors.whole(max(self.s.batch_size, 256))  # a decoder reads it whole
        if decode and c.steps:
            res.update(self._decoded(tensors, self.needed))
        if decode:  # a detector's mAP, from its inference model's detections
            from .detection.metrics import detection_metrics
            res.update(detection_metrics(c, tensors, self.needed, max(self.s.batch_size, 64),
                                         self.classes, self.autocast))
        return res

    def _decoded(self, tensors, names: list[str]) -> dict[str, float]:
        c = self.c
        model = c.model
        was_training = model.training
        model.eval()
        n = tensors[0].shape[0]
        bs = max(self.s.batch_size, 256)
        out: dict[str, float] = {}
        for g in c.steps:
            o = next((e.dst for e in c.graph.out_edges(g) if e.dst in c.outputs), None)
            if o is None:  # its tokens reach no Output: nothing the model gives to score
                continue
            fb = c.analysis.phases.feedback[g]
            edges = c.graph.in_edges(fb)
            if not edges or edges[0].src not in names:
                continue
            truth = tensors[names.index(edges[0].src)]
            spec, params = c.graph.spec(g), c.graph.params(g)
            end = spec.role_value(params, ParamRole.END_TOKEN)
            pad = spec.role_value(params, ParamRole.PAD_TOKEN)
            hits = 0.0
            with torch.no_grad():
                for i in range(0, n, bs):
                    with self.autocast():
                        res = model(*[tensors[names.index(k)][i:i + bs] for k in c.inputs])
                    got = res[c.outputs.index(o)] if len(c.outputs) > 1 else res
                    nb = got.shape[0]
                    hits += M.exact_match(got, truth[i:i + bs], end, pad) * nb
            out["exact_match" if len(c.steps) == 1 else f"{g}.exact_match"] = hits / max(n, 1)
        model.train(was_training)
        return out

    def _objective(self, tensors) -> dict[str, float]:
        c, kinds = self.c, self.kinds
        obj = c.objective
        was_training = obj.training
        obj.eval()
        n = _count(tensors)
        bs = max(self.s.batch_size, 256)
        if isinstance(tensors, (list, tuple)):
            batches = ([t[i:i + bs] for t in tensors] for i in range(0, n, bs))
            targets = tensors
        else:  # streamed: the targets the metrics compare with, gathered as the batches pass
            batches, kept = tensors.batches(bs), {k: [] for k in self.loss_target.values()}
        total = torch.zeros((), device=self.device)
        per_loss = {l: torch.zeros((), device=self.device) for l in c.losses}
        records: dict[str, list] = {l: [] for l in kinds}
        noise = self.recipe.noise
        # Noise of its own generator: the same every evaluation, and the run's untouched
        gen = seeds.stream(self.s.seed, seeds.EVAL_NOISE) if noise else None
        with torch.no_grad():
            for batch in batches:
                nb = batch[0].shape[0]
                if not isinstance(tensors, (list, tuple)):
                    for k, v in kept.items():
                        v.append(batch[k])
                with self.autocast():
                    out = obj(*(self.recipe.args(c.feeds, batch, gen) if noise else batch))
                total += out["loss"] * nb
                for l in c.losses:
                    per_loss[l] += out["losses"][l] * nb
                for l, kind in kinds.items():
                    records[l].append(M.record(kind, out["preds"][l]))
        obj.train(was_training)
        if not isinstance(tensors, (list, tuple)):
            targets = [torch.cat(kept[k]) if kept.get(k) else None
                       for k in range(len(self.needed))]
        res = {"loss": total.item() / max(n, 1)}
        if len(c.losses) > 1:
            res.update({f"{l}.loss": v.item() / max(n, 1) for l, v in per_loss.items()})
        res.update(EM.named(c, {l: M.finish(kinds[l], records[l], targets[self.loss_target[l]],
                                            ignored(c, l))
                                for l in kinds}, kinds))
        return res


def _count(tensors) -> int:
    """The samples of a split: its tensors' first dimension, or its batches' `n`."""
    return tensors[0].shape[0] if isinstance(tensors, (list, tuple)) else tensors.n
