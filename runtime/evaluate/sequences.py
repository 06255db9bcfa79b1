"""The figures of a sequence-to-sequence model (exact match by input length, the worst
examples), a character model (the loss of each character of validation text) and a
generator (its samples of the Try panel's fixed noise batch, and what the dataset's judge
makes of them; when the weights belong to a run folder, the samples the run kept at each
epoch's end, runtime/runs.py's samples/)."""
from __future__ import annotations

import math

import numpy as np
import torch

from graph.spec import ParamRole

from .. import metrics as M
from .. import seeds
from .source import BATCH, EvaluateError

WORST = 20  # worst examples listed
TEXT_ROWS = 4  # validation sequences shown character by character


def _text(ids, vocab) -> str:
    from ..data import seq2seq
    if vocab is not None and tuple(vocab[:len(seq2seq.SPECIAL)]) == seq2seq.SPECIAL:
        return seq2seq.decode([int(i) for i in ids], vocab)
    return " ".join(str(int(i)) for i in ids)


@torch.no_grad()
def seq2seq(src) -> dict:
    """Each decode node's greedy decoding (the inference model) against its target, row by
    row: whole sequences up to the end token (runtime/metrics.exact_match's rule), grouped
    by the input's length (its tokens other than padding)."""
    c = src.compiled
    found = []
    for g in c.steps:
        o = next((e.dst for e in c.graph.out_edges(g) if e.dst in c.outputs), None)
        fb = c.analysis.phases.feedback[g]
        edges = c.graph.in_edges(fb)
        if o is not None and edges and edges[0].src in src.needed:
            found.append((g, o, edges[0].src))
    if not found:
        raise EvaluateError("the decode node's tokens reach no Output, or its target is not "
                            "a Target: nothing to compare the decoding with")
    g, o, truth_node = found[0]
    spec, params = c.graph.spec(g), c.graph.params(g)
    end = spec.role_value(params, ParamRole.END_TOKEN)
    pad = spec.role_value(params, ParamRole.PAD_TOKEN)
    source = c.inputs[0]
    rows = []  # (input length, match, token errors, input ids, true ids, decoded ids)
    try:
        for batch in src.batches(BATCH):
            res = c.model(*[batch[src.needed.index(k)] for k in c.inputs])
            got = (res[c.outputs.index(o)] if isinstance(res, tuple) else res).long().cpu()
            truth = batch[src.needed.index(truth_node)].long().cpu()
            x = batch[src.needed.index(source)].cpu()
            n, width = got.shape[0], max(got.shape[1], truth.shape[1])
            grow = lambda t: torch.cat([t, t.new_full((n, width - t.shape[1]), pad)], 1)  # noqa: E731
            a = M._until_end(grow(got), end, pad)
            b = M._until_end(grow(truth), end, pad)
            errors = (a != b).sum(1)
            lengths = (x != pad).sum(1) if x.dim() == 2 else torch.full((n,), x.shape[-1])
            for i in range(n):
                rows.append((int(lengths[i]), bool(errors[i] == 0), int(errors[i]), x[i],
                             truth[i], got[i]))
    except (RuntimeError, ValueError) as e:
        raise EvaluateError(f"the model failed on the {src.split} split: "
                            f"{(str(e).splitlines() or [''])[0]}") from None
    by_length: dict[int, list[bool]] = {}
    for length, ok, *_ in rows:
        by_length.setdefault(length, []).append(ok)
    vocab = src.vocab
    worst = sorted((r for r in rows if not r[1]), key=lambda r: -r[2])[:WORST]
    return {"samples": len(rows), "decode_node": g,
            "exact_match": sum(r[1] for r in rows) / max(len(rows), 1),
            "by_length": [{"length": k, "samples": len(v), "exact_match": sum(v) / len(v)}
                          for k, v in sorted(by_length.items())],
            "worst": [{"input": _text(r[3], vocab), "true": _text(r[4], vocab),
                       "decoded": _text(r[5], vocab), "token_errors": r[2]} for r in worst]}


def character(src, p, loss: str) -> dict:
    """The loss of each character: −log of the probability the model gave the true next
    character (natural log), over the split; the first TEXT_ROWS sequences character by
    character for a coloured view."""
    from ..evaluation import ignored
    from .classify import class_scores
    pred, target = p.preds[loss], p.targets[loss]
    y, proba, _ = class_scores(src.compiled, loss, p.kinds[loss], pred, target,
                               ignored(src.compiled, loss))
    if not len(y):
        raise EvaluateError(f"the {src.split} split holds no characters to evaluate")
    nll = -np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, None))
    vocab = src.vocab
    steps = target.shape[1] if target.dim() >= 2 else 1
    text = []
    if len(nll) == target.numel():  # no position left out: rows line up with sequences
        for r in range(min(TEXT_ROWS, target.shape[0])):
            ids = target[r].reshape(-1).tolist()
            text.append([[str(vocab[i]) if 0 <= i < len(vocab) else "?",
                          float(nll[r * steps + j])] for j, i in enumerate(ids)])
    mean = float(nll.mean())
    return {"samples": int(target.shape[0]), "characters": int(len(y)), "loss_node": loss,
            "loss_per_character": mean, "bits_per_character": mean / math.log(2),
            "accuracy": float((proba.argmax(1) == y).mean()),
            "worst_characters": _worst_chars(y, nll, vocab), "text": text}


def _worst_chars(y, nll, vocab, k: int = 10) -> list[dict]:
    """The characters with the highest mean loss (seen at least 5 times)."""
    out = []
    for i in np.unique(y):
        sel = nll[y == i]
        if len(sel) >= 5:
            out.append({"character": str(vocab[i]) if 0 <= i < len(vocab) else "?",
                        "count": int(len(sel)), "loss": float(sel.mean())})
    return sorted(out, key=lambda d: -d["loss"])[:k]


GENERATED = 64  # as the Try panel's fixed noise batch


@torch.no_grad()
def generator(src) -> dict:
    """The generator's samples of the Try panel's fixed noise batch (the same every time:
    drawn from the project's seed) and the dataset's judge of them (a ring's modes covered,
    digits read), when it has one; and, when the weights belong to a run folder (or were saved by `layerloom train
    --out` beside them), `epochs`:
    the samples of the training's own fixed noise batch the run kept at each epoch's end with
    their judge's figures (epochs())."""
    from ..compile import Noise
    from ..data import DataError, load_dataset
    c, project = src.compiled, src.project
    gen = seeds.stream(project.training.seed, seeds.TRY_NOISE)
    noise = [Noise.of(c.graph, n).sample(GENERATED, "cpu", gen) for n in c.inputs]
    try:
        out = c.model(*noise)
    except (RuntimeError, ValueError) as e:
        raise EvaluateError(f"the generator failed: {(str(e).splitlines() or [''])[0]}") \
            from None
    fake = (out[0] if isinstance(out, tuple) else out).float()
    judged = {}
    try:
        ds = load_dataset(project.data.dataset, project.data.options, project.training.seed,
                          src.base_dir)
        judge = getattr(ds, "judge", None)
        with torch.enable_grad():  # a judge may fit its classifier on first use (digits)
            judged = {k: float(v) for k, v in (judge(fake) if judge else {}).items()}
    except (DataError, OSError, RuntimeError, ValueError):
        judged = {}  # the samples without the judge's figures
    out = {"samples": GENERATED, "shape": list(fake.shape[1:]), "judged": judged,
           "generated": fake.round(decimals=4).tolist()}
    kept = epochs(src.weights)
    if kept:
        out["epochs"] = kept
    return out


EPOCH_GRIDS = 40  # epochs whose samples an evaluation holds (spread evenly, first and last)


def epochs(weights) -> list[dict]:
    """The samples the run of `weights` kept per epoch (runtime/runs.read_samples), in epoch
    order: {epoch, step, judged, generated}. Every epoch's judged figures; the samples
    themselves (rounded to 3 decimals) for at most EPOCH_GRIDS epochs spread evenly over the
    run, the first and the last among them (`generated` None for the others), so that the
    JSON of a long run stays small. [] when no samples were kept for the weights."""
    from ..runs import read_samples, samples_folder_of
    folder = samples_folder_of(weights)
    rows = read_samples(folder) if folder is not None else []
    n = len(rows)
    shown = set(np.unique(np.linspace(0, n - 1, min(n, EPOCH_GRIDS)).round().astype(int)))
    return [{"epoch": r["epoch"], "step": r["step"], "judged": r["judged"],
             "generated": r["generated"].astype(np.float64).round(3).tolist()
             if i in shown else None}
            for i, r in enumerate(rows)]
