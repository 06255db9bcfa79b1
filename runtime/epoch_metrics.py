"""The names of the metrics a run reports at each epoch's end, known before it trains, and the
choice of the 'best' checkpoint's metric among them (training.best_metric).

The names follow from the graph and the settings: the loss, each loss's metric (runtime.metrics: 'accuracy', 'mae', or
'<loss>.accuracy' when there are several), the named values the recipe logs per step (an
optimizer record's losses, a GAN's D(x) and D(G(z))), then on the validation split 'val_'
and the loss, each loss ('<loss>.loss' when there are several), the losses' metrics, a
decoder's exact match and a detector's mAPs, and last what the dataset's
judge says of a generator's samples (the ring: modes, quality). tests/runtime/
test_epoch_metrics.py checks them against the names real runs report.
"""
from __future__ import annotations

from graph.catalogue.losses import class_dim
from graph.spec import ParamRole

from . import metrics as M
from .compile import Compiled

CLASS_AP = "ap50.<class>"  # one per class present in the validation data


def target_of(c: Compiled, loss: str) -> str | None:
    """The Target a loss node compares with (None: none, or not straight from one)."""
    port = next((p.name for p in c.graph.spec(loss).inputs if p.role == "target"), None)
    if port is None:  # a GAN's losses judge scores, not against a target
        return None
    src = c.graph.in_edges(loss, port)[0].src
    return src if c.graph.spec(src).role == "target" else None


def metric_kinds(c: Compiled) -> dict[str, str]:
    """The metric of each loss node whose target comes straight from a Target."""
    out = {}
    for l in c.losses:
        if target_of(c, l) is None:
            continue
        spec = c.graph.spec(l)
        pred = c.analysis.edge_type(c.graph.in_edges(l, spec.in_role("pred"))[0])
        target = c.analysis.edge_type(c.graph.in_edges(l, spec.in_role("target"))[0])
        axis = (class_dim(pred, target, spec.role_value(c.graph.params(l), ParamRole.CLASS_AXIS))
                if spec.param_role(ParamRole.CLASS_AXIS) else 1)
        feats = pred.shape[axis] if len(pred.shape) > 1 else 1
        kind = M.metric_kind(c.graph, l, feats if isinstance(feats, int) else None)
        if kind == "accuracy/argmax" and axis == -1:
            kind = "accuracy/argmax_last"
        if kind:
            out[l] = kind
    return out


def named(c: Compiled, values: dict, kinds: dict[str, str]) -> dict:
    """{'accuracy': …} for a single loss; {'<loss>.accuracy': …} when there are several."""
    single = len(c.losses) == 1
    return {(M.metric_name(kinds[l]) if single else f"{l}.{M.metric_name(kinds[l])}"): v
            for l, v in values.items()}


def discriminator_losses(c: Compiled) -> list[str]:
    """The loss nodes that judge generated samples (a port with the role 'fake')."""
    return [l for l in c.losses if any(p.role == "fake" for p in c.graph.spec(l).inputs)]


def value_names(c: Compiled, settings) -> list[str]:
    """The named values a step logs besides the loss: each optimizer record's losses, and a
    GAN's D(x) and D(G(z)) for each discriminator loss (prefixed when there are several)."""
    names = [f"{l}.loss" for r in settings.optimizers for l in r.losses]
    if settings.recipe == "adversarial":
        d = discriminator_losses(c)
        for l in d:
            pre = f"{l}." if len(d) > 1 else ""
            names += [f"{pre}D(x)", f"{pre}D(G(z))"]
    return list(dict.fromkeys(names))


def _decoded(c: Compiled) -> list[str]:
    steps = [g for g in c.steps if any(e.dst in c.outputs for e in c.graph.out_edges(g))]
    return ["exact_match" if len(c.steps) == 1 else f"{g}.exact_match" for g in steps]


def _detected(c: Compiled, classes: list[str] | None) -> list[str]:
    from .detection.metrics import detectors, mask_output
    found = detectors(c)
    per_class = ([f"ap50.{n}" for n in classes[1:]] if classes else [CLASS_AP])
    masked = mask_output(c) is not None if len(found) == 1 else False
    out = []
    for node, _idx, _truth in found:
        pre = "" if len(found) == 1 else f"{node}."
        out += [f"{pre}{n}" for n in ("map50", "map", *per_class)]
        if masked:
            out += ["mask_map50", "mask_map", "mask_iou"]
    return out


def metric_names(c: Compiled, settings, dataset: str, validated: bool = True,
                 classes: list[str] | None = None) -> list[str]:
    """Every name an epoch's metrics may hold. `validated`: whether the run holds out a
    validation split; `classes`: the dataset's class names (None: unknown, so a detector's
    per-class APs are the pattern 'ap50.<class>')."""
    from .data import DATASETS
    kinds = metric_kinds(c)
    per_loss = [f"{l}.loss" for l in c.losses] if len(c.losses) > 1 else []
    measured = list(named(c, {l: 0 for l in kinds}, kinds))
    names = ["loss", *measured, *value_names(c, settings)]  # training: each loss per step
    if validated:
        names += [f"val_{n}" for n in ["loss", *per_loss, *measured, *_decoded(c),
                                       *_detected(c, classes)]]
    spec = DATASETS.get(dataset)
    generator = bool(c.inputs) and all(c.graph.spec(n).role == "noise" for n in c.inputs)
    if settings.recipe == "adversarial" and generator and spec is not None:
        names += list(spec.judged)
    return list(dict.fromkeys(names))


def resolve_best(best: str, names: list[str]) -> str:
    """The metric the best checkpoint is chosen by: '' means val_loss (loss without a
    validation split); a name the run does not report but whose validation twin it does
    means that twin ('map50' → 'val_map50'). Raises ValueError naming the metrics that
    exist for any other name."""
    if not best:
        return "val_loss" if "val_loss" in names else "loss"
    if best in names or _per_class(best, names):
        return best
    if f"val_{best}" in names or _per_class(f"val_{best}", names):
        return f"val_{best}"
    shown = ", ".join(names)
    raise ValueError(f"training.best_metric: this run reports no metric '{best}'; its "
                     f"metrics are {shown}")


def _per_class(name: str, names: list[str]) -> bool:
    """Whether `name` is a per-class AP the pattern 'ap50.<class>' stands for."""
    for n in names:
        if n.endswith(CLASS_AP):
            head = n[:-len("<class>")]
            if name.startswith(head) and len(name) > len(head):
                return True
    return False


def project_metric_names(project) -> list[str] | None:
    """metric_names of a project before any data is loaded (per-class APs as the pattern),
    for `layerloom check` and the training panel; None when the graph does not compile (its
    problems are said elsewhere)."""
    from .compile import CompileError, compile_graph
    try:
        c = compile_graph(project.graph, standardize=project.data.standardize,
                          normalize=project.data.augment.normalize)
    except (CompileError, RuntimeError, ValueError):  # its problems, or torch refusing a size
        return None
    if c.objective is None:
        return None
    s = project.training
    return metric_names(c, s, project.data.dataset, s.val_split > 0)
