"""Trying a trained model: the same validation samples its run was judged on, what the model
predicts for each, and text generation for a character model (issue 10, item 6). No Qt
here: the app's Try panel shows what this returns; a script can use it as it is.

    t = Tryout(project, base_dir, weights)      # weights: a checkpoint, run folder or file
    s = t.sample(3)                              # inputs, targets and outputs of sample 3
    t.generate("def ", temperature=0.8, length=200)
    t.translate("Aug 29, 1958")                  # a seq2seq model: text and attention (issue 11)
    t.boundary()                                 # a 2-D classifier: its decision boundary

The modes beyond a sample are modules (ARCHITECTURE.md, "A Try-panel mode"): detection.py,
text.py, translate.py, boundary.py, each a mixin of Tryout.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from graph.project import Project
from graph.spec import NodeRole, PortRole

from .. import seeds
from ..binding import bind_data
from ..compile import CompileError, Noise, compile_graph
from ..data import DataError, load_dataset
from ..train import split
from ..start_weights import load_start, weights_path
from ..weights import WeightsError
from .base import TryError
from .boundary import Boundary, BoundaryMode
from .detection import AnchorGrid, DetectionMode, Detections, anchor_grid
from .text import TextMode
from .translate import TranslateMode, Translation

__all__ = ["AnchorGrid", "Boundary", "Detections", "Sample", "Translation", "TryError", "Tryout",
           "anchor_grid", "kind", "latest_weights", "run_weights"]


@dataclass
class Sample:
    index: int  # its position among the validation samples
    inputs: dict[str, torch.Tensor]  # node -> one sample (no batch dim)
    targets: dict[str, torch.Tensor]
    outputs: dict[str, torch.Tensor]  # Output node -> what the model gives for it
    kinds: dict[str, str] = field(default_factory=dict)  # node -> how to show it (see `kind`)


def kind(t: torch.Tensor, vocab: list | None) -> str:
    """How a value is best shown by its shape alone: 'text' (token ids with a vocabulary),
    'class' (an integer), 'image' (C × H × W, C 1 or 3), 'sequence' (T × F floats) or
    'value' (a few numbers). Whether numbers are class scores is not a matter of shape:
    `Tryout.sample` says 'scores' of an Output a classification loss reads."""
    if not t.is_floating_point():
        return "text" if vocab is not None and t.dim() >= 1 else "class"
    if t.dim() == 3 and t.shape[0] in (1, 3):
        return "image"
    if t.dim() == 2:
        return "sequence"
    return "value"



class Tryout(DetectionMode, TextMode, TranslateMode, BoundaryMode):
    def __init__(self, project: Project, base_dir: str | os.PathLike | None,
                 weights: str | os.PathLike):
        self.project = project
        try:
            self.compiled = c = compile_graph(project.graph,
                                              standardize=project.data.standardize,
                                              normalize=project.data.augment.normalize)
        except (CompileError, RuntimeError, ValueError) as e:  # torch's complaints too
            raise TryError(f"the graph cannot be compiled: {e}") from None
        try:  # as training loads starting weights: standardizers the file lacks are fitted
            wf = weights_path(weights)  # below, on the training split
            from_file = load_start(c, wf)
        except (WeightsError, OSError) as e:
            raise TryError(str(e)) from None
        c.model.eval()
        self.weights = wf
        data = project.data
        if c.generator:
            self._generator(project, base_dir)  # a GAN's generator: noise in, samples out
            return
        try:
            self.dataset = ds = load_dataset(data.dataset, data.options, project.training.seed,
                                             base_dir)
            needed = c.inputs + c.targets
            tensors = bind_data(c, data.bind, ds, needed)
        except DataError as e:
            raise TryError(str(e)) from None
        val, train = split(len(ds), project.training.seed, project.training.val_split, ds.name)
        for node, name in c.standardizers.items():  # fitted on the training split only
            if node not in from_file and node in tensors:
                c.modules.get_submodule(name).fit(tensors[node][train])
        if not len(val):  # no validation split: the training samples then
            val = torch.arange(len(ds))
        self.val = {k: tensors[k][val] for k in needed}
        self.vocab = ds.vocab
        self.classes = ds.classes

    GENERATED = 64

    def _generator(self, project: Project, base_dir) -> None:
        """Samples of a generator: 'validation sample' i is the output for noise sample i of
        a fixed batch (drawn from the project's seed, the same every time); `real` holds some
        of the data it learned to imitate, when the dataset loads."""
        c, g = self.compiled, seeds.stream(project.training.seed, seeds.TRY_NOISE)
        self.noise = {n: Noise.of(c.graph, n) for n in c.inputs}
        self.val = {n: z.sample(self.GENERATED, "cpu", g) for n, z in self.noise.items()}
        self.dataset, self.vocab, self.classes, self.real = None, None, None, None
        graph = project.graph
        real = next((n for n in graph.nodes() if graph.spec(n).role == NodeRole.INPUT), None)
        if real is None:
            return
        try:
            ds = load_dataset(project.data.dataset, project.data.options, project.training.seed,
                              base_dir)
            self.real = bind_data(c, project.data.bind, ds, [real])[real][:512].float()
            self.dataset = ds
        except (DataError, OSError, RuntimeError, ValueError):  # the samples show without
            self.real = None  # the real data beside them

    @property
    def generator(self) -> bool:
        """Whether the model is a generator: it reads noise only (a GAN's generator)."""
        return hasattr(self, "noise")

    @torch.no_grad()
    def generated(self) -> torch.Tensor:
        """The generator's output for the whole fixed noise batch (M × sample shape),
        computed once: the weights and the noise do not change."""
        if getattr(self, "_generated", None) is None:
            out = self.compiled.model(*self.val.values())
            self._generated = (out[0] if isinstance(out, tuple) else out).float()
        return self._generated

    def judged(self) -> dict[str, float]:
        """What the dataset's judge makes of the generated batch (modes covered, digits
        read), or {} when it has none."""
        judge = getattr(self.dataset, "judge", None)
        return judge(self.generated()) if judge is not None else {}

    def noise_text(self, node: str) -> str:
        """What a noise input is: '8 values drawn from N(0, I)'."""
        z = self.noise[node]
        dist = "N(0, I)" if z.distribution == "normal" else "the uniform on [−1, 1]"
        return f"{' × '.join(map(str, z.shape))} values drawn from {dist}"

    def __len__(self) -> int:
        return len(next(iter(self.val.values())))

    def _class_scores(self) -> set[str]:
        """The Outputs that hold class scores: a classification loss (accuracy by argmax)
        reads what they read."""
        from ..metrics import metric_kind
        g = self.compiled.graph
        read = set()
        for n in g.nodes():
            spec = g.spec(n)
            if spec.role != NodeRole.LOSS or spec.in_role_or_none(PortRole.PRED) is None:
                continue
            if (metric_kind(g, n, None) or "").startswith("accuracy/argmax"):
                read |= {(e.src, e.src_port) for e in g.in_edges(n, spec.in_role(PortRole.PRED))}
        return {o for o in self.compiled.outputs
                if any((e.src, e.src_port) in read for e in g.in_edges(o))}

    @torch.no_grad()
    def sample(self, i: int) -> Sample:
        c = self.compiled
        if not 0 <= i < len(self):
            raise TryError(f"sample {i} is not among the {len(self):,} validation samples")
        ins = {n: self.val[n][i] for n in c.inputs}
        out = c.model(*[v.unsqueeze(0) for v in ins.values()])
        outs = out if isinstance(out, tuple) else (out,)
        outputs = {n: o[0] for n, o in zip(c.outputs, outs)}
        targets = {n: self.val[n][i] for n in c.targets}
        kinds = {n: kind(v, self.vocab) for n, v in {**ins, **targets, **outputs}.items()}
        scores = self._class_scores()
        for n, v in outputs.items():
            if self.vocab is not None and v.dim() == 2 and v.shape[-1] == len(self.vocab):
                kinds[n] = "text scores"  # per-step class scores of a text model
            elif n in scores and v.dim() == 1 and v.numel() > 1:
                kinds[n] = "scores"
            elif self.generator and v.dim() == 1 and v.numel() == 2:
                kinds[n] = "point"
        if self.generator:
            kinds.update({n: "noise" for n in c.inputs})
        return Sample(i, ins, targets, outputs, kinds)


def run_weights(run) -> tuple[str, Path] | None:
    """The checkpoint a run is tried with: ('best', folder), else ('last', folder), else None
    (runtime.runs.checkpoints)."""
    from ..runs import checkpoints
    found = checkpoints(run)
    return found[0] if found else None


def latest_weights(runs: list) -> Path | None:
    """The newest run's checkpoint to try (run_weights) from runtime.runs.list_runs()."""
    for r in reversed(runs):
        chosen = run_weights(r)
        if chosen is not None:
            return chosen[1]
    return None
