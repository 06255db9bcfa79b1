"""Trying a trained model: the same validation samples its run was judged on, what the model
predicts for each, and text generation for a character model (issue 10, item 6). No Qt
here: the app's Try panel shows what this returns; a script can use it as it is.

    t = Tryout(project, base_dir, weights)      # weights: a checkpoint, run folder or file
    s = t.sample(3)                              # inputs, targets and outputs of sample 3
    t.generate("def ", temperature=0.8, length=200)
    t.translate("Aug 29, 1958")                  # a seq2seq model: text and attention (issue 11)
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from graph.project import Project

from .binding import bind_data
from .compile import compile_graph
from .data import DataError, load_dataset
from .export import weights_file
from .train import split
from .weights import load_weights


class TryError(Exception):
    """Why the model cannot be tried (no weights, no data, not a text model): one message."""


@dataclass
class Sample:
    index: int  # its position among the validation samples
    inputs: dict[str, torch.Tensor]  # node -> one sample (no batch dim)
    targets: dict[str, torch.Tensor]
    outputs: dict[str, torch.Tensor]  # Output node -> what the model gives for it
    kinds: dict[str, str] = field(default_factory=dict)  # node -> how to show it (see `kind`)


def kind(t: torch.Tensor, vocab: list | None) -> str:
    """How a value is best shown: 'text' (token ids with a vocabulary), 'image' (C × H × W,
    C 1 or 3), 'sequence' (T × F floats), 'scores' (class scores), 'value' (a few numbers)."""
    if not t.is_floating_point():
        return "text" if vocab is not None and t.dim() >= 1 else "class"
    if t.dim() == 3 and t.shape[0] in (1, 3):
        return "image"
    if t.dim() == 2:
        return "sequence"
    return "scores" if t.dim() == 1 and t.numel() > 1 else "value"


@dataclass
class Detections:
    index: int
    image: torch.Tensor | None  # C × H × W
    boxes: torch.Tensor  # D × 4, best first
    scores: torch.Tensor
    labels: torch.Tensor
    true_boxes: torch.Tensor  # K × 4, the image's objects
    true_labels: torch.Tensor
    proposals: torch.Tensor  # P × 4, what the detector scored
    classes: list[str]
    masks: torch.Tensor | None = None  # D × H × W: each detection's mask probabilities
    true_masks: torch.Tensor | None = None  # K × H × W: the objects' masks
    anchors: "AnchorGrid | None" = None  # a Faster R-CNN's anchors (its AnchorGenerator)

    def name(self, label: int) -> str:
        return self.classes[label] if 0 <= label < len(self.classes) else str(label)


@dataclass
class AnchorGrid:
    """The anchors an AnchorGenerator node lays over one image (issue 14), cell by cell:
    `boxes` is rows × cols × k × 4, the cell (i, j) centred on (j · stride_w, i · stride_h)."""
    node: str
    boxes: torch.Tensor
    stride: tuple[int, int]  # (rows, columns) in image pixels
    fg_iou: float = 0.7  # the RPN's matching settings (its MatchAnchors node's, if any)
    bg_iou: float = 0.3
    low_quality: bool = True

    @property
    def shape(self) -> tuple[int, int, int]:
        r, c, k, _ = self.boxes.shape
        return r, c, k

    def cell_at(self, x: float, y: float) -> tuple[int, int]:
        """The cell whose centre is nearest to image point (x, y)."""
        rows, cols, _ = self.shape
        i = min(max(round(y / self.stride[0]), 0), rows - 1)
        j = min(max(round(x / self.stride[1]), 0), cols - 1)
        return i, j

    def centre(self, i: int, j: int) -> tuple[float, float]:
        return float(j * self.stride[1]), float(i * self.stride[0])

    def cell(self, i: int, j: int) -> torch.Tensor:
        """The k anchors of cell (i, j), k × 4 (x1, y1, x2, y2)."""
        return self.boxes[i, j]

    def labels(self, i: int, j: int, true_boxes: torch.Tensor) -> tuple[torch.Tensor,
                                                                           torch.Tensor]:
        """Each anchor of the cell: its best IoU with a true box, and the label the RPN's
        matching gives it over the whole grid (runtime.detection.rpn.label_anchors, before
        the balanced draw): 1 object, 0 background, -1 ignored."""
        from .detection.rpn import label_anchors
        rows, cols, k = self.shape
        lab, best, _ = label_anchors(self.boxes.reshape(-1, 4), true_boxes.float(),
                                     self.fg_iou, self.bg_iou, self.low_quality)
        at = (i * cols + j) * k
        return best[at:at + k], lab[at:at + k]


def anchor_grid(compiled, image: torch.Tensor) -> AnchorGrid | None:
    """The anchors of the model's first AnchorGenerator over `image` (C × H × W), computed as
    the node computes them (runtime.detection.rpn.grid_anchors), from its parameters and the
    size of the feature map it reads; None for a model without one."""
    from .detection.rpn import grid_anchors
    g, a = compiled.graph, compiled.analysis
    node = next((n for n in a.order if g.node_type(n) == "AnchorGenerator"), None)
    if node is None:
        return None
    e = g.in_edges(node, "features")
    t = a.edge_type(e[0]) if e else None
    if t is None or len(t.shape) != 4 or not all(isinstance(d, int) for d in t.shape[-2:]):
        return None
    rows, cols = t.shape[-2:]
    p = g.params(node)
    boxes = grid_anchors(torch.zeros(1, 1, rows, cols), image[None],
                         [float(s) for s in p["sizes"]], [float(r) for r in p["aspect_ratios"]])
    grid = AnchorGrid(node, boxes.reshape(rows, cols, -1, 4),
                      (image.shape[-2] // rows, image.shape[-1] // cols))
    match = next((m for m in a.order if g.node_type(m) == "MatchAnchors"), None)
    if match is not None:
        grid.fg_iou = float(g.params(match)["fg_iou"])
        grid.bg_iou = float(g.params(match)["bg_iou"])
        grid.low_quality = bool(g.params(match)["low_quality"])
    return grid


@dataclass
class Translation:
    source: str  # the text as the model read it (characters outside the vocabulary: '�')
    output: str  # the decoded text, up to the end token
    source_tokens: list[str]  # one label per input position
    output_tokens: list[str]  # one label per output position (the end token included)
    # attention node -> weights, heads × output positions × input positions (1 head for the
    # encoder-decoder Attention node); only nodes whose queries come from the decoder
    attention: dict[str, np.ndarray] = field(default_factory=dict)


class Tryout:
    def __init__(self, project: Project, base_dir: str | os.PathLike | None,
                 weights: str | os.PathLike):
        self.project = project
        try:
            self.compiled = c = compile_graph(project.graph,
                                              standardize=project.data.standardize)
        except Exception as e:  # CompileError and torch's own complaints: said once
            raise TryError(f"the graph cannot be compiled: {e}") from None
        try:
            wf = weights_file(weights)
            load_weights(c.model, wf, set(c.modules.state_dict()))
        except Exception as e:
            raise TryError(str(e)) from None
        c.model.eval()
        self.weights = wf
        data = project.data
        spec = project.graph.spec
        if c.inputs and all(spec(n).role == "noise" for n in c.inputs):
            self._generator(project)  # a GAN's generator: noise in, samples out
            return
        try:
            self.dataset = ds = load_dataset(data.dataset, data.options, project.training.seed,
                                             base_dir)
            needed = c.inputs + c.targets
            tensors = bind_data(c, data.bind, ds, needed)
        except DataError as e:
            raise TryError(str(e)) from None
        val, _train = split(len(ds), project.training.seed, project.training.val_split, ds.name)
        if not len(val):  # no validation split: the training samples then
            val = torch.arange(len(ds))
        self.val = {k: tensors[k][val] for k in needed}
        self.vocab = ds.vocab
        self.classes = ds.classes

    GENERATED = 64

    def _generator(self, project: Project) -> None:
        """Samples of a generator: 'validation sample' i is the output for noise batch i,
        the same noise every time (drawn from the project's seed)."""
        from .recipes.base import sample_noise
        c, g = self.compiled, torch.Generator().manual_seed(project.training.seed + 7)
        self.val = {n: sample_noise(self.GENERATED, c.graph.spec(n).resolved(
            c.graph.params(n)), "cpu", g) for n in c.inputs}
        self.dataset, self.vocab, self.classes = None, None, None

    def __len__(self) -> int:
        return len(next(iter(self.val.values())))

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
        for n, v in outputs.items():  # per-step class scores of a text model
            if self.vocab is not None and v.dim() == 2 and v.shape[-1] == len(self.vocab):
                kinds[n] = "text scores"
        return Sample(i, ins, targets, outputs, kinds)

    # Detection -------------------------------------------------------------------------------
    @property
    def detector(self) -> bool:
        """Whether the model returns a detector's boxes, scores and labels (issue 13)."""
        from .detection.metrics import detectors
        return self.dataset is not None and bool(detectors(self.compiled))

    @property
    def anchored(self) -> bool:
        """Whether the detector lays anchors (an AnchorGenerator node: Faster, Mask R-CNN)."""
        g = self.compiled.graph
        return self.detector and any(g.node_type(n) == "AnchorGenerator" for n in g.nodes())

    @torch.no_grad()
    def detections(self, i: int) -> "Detections":
        """Validation image i, the model's detections in it (padding dropped, best first),
        its true objects and its region proposals."""
        from .detection.boxes import valid_boxes
        from .detection.metrics import mask_output, detectors
        c = self.compiled
        found = detectors(c)
        if not found:
            raise TryError("this model returns no detections (boxes, scores and labels from "
                           "a Detections node, each wired to an Output)")
        if not 0 <= i < len(self):
            raise TryError(f"sample {i} is not among the {len(self):,} validation samples")
        _node, idx, (tb, tl) = found[0]
        ins = [self.val[n][i:i + 1] for n in c.inputs]
        # The proposals: an input (R-CNN, Fast R-CNN) or what an RPN proposed (Faster R-CNN)
        props = next((v[0] for n, v in zip(c.inputs, ins)
                      if v.dim() == 3 and v.shape[-1] == 4), None)
        proposed = []
        rpn = [m for n, m in c.modules.named_children()
               if n in c.graph and c.graph.node_type(n) == "RegionProposals"]
        hooks = [m.register_forward_hook(lambda _m, _i, o: proposed.append(o)) for m in rpn]
        try:
            out = c.model(*ins)
        finally:
            for h in hooks:
                h.remove()
        if props is None:
            props = proposed[0][0] if proposed else torch.zeros(0, 4)
        boxes, scores, labels = out[idx[0]][0], out[idx[1]][0], out[idx[2]][0]
        keep = (scores > 0) & (labels > 0)
        image = next((v[0] for v in ins if v.dim() == 4), None)
        gl = self.val[tl][i]
        masks = true_masks = None
        masked = mask_output(c)
        if masked is not None:
            masks = out[masked[0]][0][keep]
            true_masks = self.val[masked[1]][i][gl > 0] if masked[1] in self.val else None
        return Detections(i, image, boxes[keep], scores[keep], labels[keep],
                          self.val[tb][i][gl > 0], gl[gl > 0], props[valid_boxes(props)],
                          list(self.classes or []), masks, true_masks,
                          anchor_grid(c, image) if image is not None else None)

    # Text ------------------------------------------------------------------------------------
    def text_model(self) -> tuple[str, str, bool]:
        """(input node, output node, whether the output is already probabilities) of a model
        that reads token ids and gives a distribution over the vocabulary at each step."""
        c = self.compiled
        if self.vocab is None:
            raise TryError("text generation needs a text dataset (its vocabulary): this one "
                           "has none")
        tokens = [n for n in c.inputs
                  if c.analysis.out_type(n, c.graph.spec(n).value_port).dtype == "int64"]
        dists = [n for n in c.outputs if self._per_step_scores(n)]
        if len(tokens) != 1 or len(dists) != 1 or len(c.inputs) != 1:
            raise TryError("text generation needs a model with one Input of token ids (N × T, "
                           "int64) and one Output of scores over the vocabulary at each step "
                           "(N × T × V)")
        src = c.graph.in_edges(dists[0])[0].src
        return tokens[0], dists[0], c.graph.node_type(src) == "Softmax"

    def _per_step_scores(self, out: str) -> bool:
        c = self.compiled
        e = c.graph.in_edges(out)[0]
        t = c.analysis.edge_type(e)
        return t is not None and len(t.shape) == 3 and t.shape[-1] == len(self.vocab or ())

    @torch.no_grad()
    def generate(self, prompt: str, temperature: float = 1.0, length: int = 200,
                 seed: int = 0, window: int | None = None) -> str:
        """Continue `prompt` one character at a time: the model reads the last `window`
        characters (the training length T by default), the next one is drawn from its
        distribution at the last step, sharpened (temperature < 1) or flattened (> 1)."""
        from .sequences import decode, encode
        _, out, probabilities = self.text_model()
        if not math.isfinite(temperature) or temperature <= 0:
            raise TryError("temperature must be a number above 0 (1 samples as trained, "
                           "lower is more conservative)")
        if not prompt:
            raise TryError("give a prompt of at least one character")
        ids = encode(prompt, self.vocab)
        window = window or int(self.val[self.compiled.inputs[0]].shape[-1])
        gen = torch.Generator().manual_seed(seed)
        c = self.compiled
        for _ in range(max(0, length)):
            x = torch.tensor([ids[-window:]], dtype=torch.long)
            scores = c.model(x)[0, -1].double()
            logp = torch.log(scores.clamp_min(1e-12)) if probabilities else \
                torch.log_softmax(scores, -1)
            p = torch.softmax(logp / temperature, -1)
            ids.append(int(torch.multinomial(p, 1, generator=gen)))
        return decode(ids[len(encode(prompt, self.vocab)):], self.vocab)

    # Sequence to sequence --------------------------------------------------------------
    def seq2seq_model(self) -> tuple[str, str, str]:
        """(input node, output node, decode node) of a sequence-to-sequence model: one Input
        of token ids and a Greedy decode node whose tokens reach an Output."""
        from . import seq2seq
        c = self.compiled
        vocab = self.vocab or []
        if not c.steps or tuple(vocab[:len(seq2seq.SPECIAL)]) != seq2seq.SPECIAL:
            raise TryError("translation needs a sequence-to-sequence model (a Greedy decode "
                           "node) trained on a dataset with a token vocabulary (dates, "
                           "reverse, copy)")
        g = next(iter(c.steps))
        outs = [e.dst for e in c.graph.out_edges(g) if e.dst in c.outputs]
        if len(c.inputs) != 1 or not outs:
            raise TryError("translation needs one Input of token ids and the Greedy decode's "
                           "tokens on an Output")
        return c.inputs[0], outs[0], g

    def attention_nodes(self) -> list[str]:
        """The attention nodes of the decoder whose keys come from outside it (the encoder):
        their weights align output positions with input positions. Decoder self-attention
        (queries and keys both the decoder's) comes after them."""
        c = self.compiled
        found = []
        for g, step in c.steps.items():
            members = set(c.analysis.phases.steps[g])
            for n in c.analysis.phases.steps[g]:
                if c.graph.node_type(n) not in ("Attention", "MultiHeadAttention"):
                    continue
                key = c.graph.in_edges(n, "key")
                cross = bool(key) and key[0].src not in members
                found.append((not cross, n))
        return [n for _, n in sorted(found, key=lambda t: t[0])]

    @torch.no_grad()
    def translate(self, text: str) -> Translation:
        from . import seq2seq
        src_node, out_node, g = self.seq2seq_model()
        if not text.strip():
            raise TryError("type something to translate")
        vocab = self.vocab
        ids = seq2seq.encode(text, vocab)
        c = self.compiled
        pe = [n for n in c.analysis.order if c.graph.node_type(n) == "PositionalEncoding"]
        if pe:
            limit = min(c.graph.spec(pe[0]).resolved(c.graph.params(pe[0]))["max_len"], 4096)
            if len(ids) > limit:
                raise TryError(f"the input has {len(ids)} characters; the model's positional "
                               f"encoding holds {limit}")
        # Padded like the data it trained on (an RNN encoder reads the padding too, so an
        # unpadded input would be one it never saw); padded keys get no attention
        width = max(len(ids), int(self.val[src_node].shape[-1]))
        x = torch.tensor([ids + [seq2seq.PAD_ID] * (width - len(ids))], dtype=torch.long)
        captured: dict[str, torch.Tensor] = {}
        nodes = self.attention_nodes()
        hooks = [c.modules.get_submodule(n).register_forward_hook(
            lambda _m, _i, out, n=n: captured.__setitem__(n, out[1].detach()))
            for n in nodes]
        try:
            out = c.model(x)
        finally:
            for h in hooks:
                h.remove()
        tokens = out[c.outputs.index(out_node)] if isinstance(out, tuple) else out
        row = [int(t) for t in tokens[0]]
        n_out = next((i + 1 for i, t in enumerate(row) if t == seq2seq.END_ID), len(row))
        attention = {}
        for n, w in captured.items():  # the last call: the whole prefix, every position
            a = w[0].float()
            a = a[None] if a.dim() == 2 else a  # heads × T_q × T_k
            attention[n] = a[:, :n_out, :len(ids)].numpy()
        label = lambda i: {seq2seq.END_ID: "</s>", seq2seq.PAD_ID: "·"}.get(i, vocab[i])  # noqa: E731
        return Translation(seq2seq.decode(ids, vocab), seq2seq.decode(row, vocab),
                           [vocab[i] for i in ids], [label(i) for i in row[:n_out]], attention)


def latest_weights(runs: list) -> Path | None:
    """The newest run's best checkpoint (else its last) from runtime.runs.list_runs()."""
    for r in reversed(runs):
        for which in ("best", "last"):
            p = Path(r.folder) / "checkpoints" / which / "model.safetensors"
            if p.is_file():
                return p.parent
    return None
