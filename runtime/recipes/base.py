"""What every recipe shares: the step's result, optimizers, optimizer records, noise."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from graph.settings import OptimizerRecord

from .. import ops
from ..compile import Compiled, objective_for

if TYPE_CHECKING:
    from ..train import Trainer


@dataclass
class StepResult:
    """One step: the loss it reports (a tensor on the device), that loss as a float where it
    was read already (the CPU), the objective's output (for the metrics), and named values
    to log beside the loss (each record's losses, D(x), …), as 0-dim tensors."""
    loss: torch.Tensor
    value: float | None
    out: dict | None
    parts: dict[str, torch.Tensor] = field(default_factory=dict)


def build_optimizer(kind: str, params, lr: float, momentum: float = 0.0,
                    weight_decay: float = 0.0, beta1: float = 0.9) -> torch.optim.Optimizer:
    if kind == "adam":
        if beta1 == 0.9:  # torch's default, passed as today: the same optimizer, bit for bit
            return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
        return torch.optim.Adam(params, lr=lr, betas=(beta1, 0.999), weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


class OptimizerSet:
    """Several optimizers saved and restored as one: their parameter groups one after the
    other (each tagged with its record's name), parameter ids numbered through. The
    checkpoint format stays that of one optimizer."""

    def __init__(self, named: dict[str, torch.optim.Optimizer]):
        self.named = named

    @property
    def param_groups(self) -> list[dict]:
        return [g for o in self.named.values() for g in o.param_groups]

    def state_dict(self) -> dict:
        state, groups, base = {}, [], 0
        for name, opt in self.named.items():
            sd = opt.state_dict()
            for pid, st in sd["state"].items():
                state[pid + base] = st
            for g in sd["param_groups"]:
                groups.append({**g, "params": [p + base for p in g["params"]], "record": name})
            base += sum(len(g["params"]) for g in sd["param_groups"])
        return {"state": state, "param_groups": groups}

    def check_state(self, sd: dict) -> None:
        """ValueError unless `sd` was saved from optimizers of the same records."""
        names = [g.get("record") for g in sd["param_groups"]]
        want = [name for name, o in self.named.items() for _ in o.param_groups]
        if names != want:
            raise ValueError(f"its optimizer records are {_names(names)}, this project's "
                             f"{_names(want)}")

    def load_state_dict(self, sd: dict) -> None:
        self.check_state(sd)
        groups = sd["param_groups"]
        base, i = 0, 0
        for name, opt in self.named.items():
            mine = groups[i:i + len(opt.param_groups)]
            i += len(opt.param_groups)
            ids = [p for g in mine for p in g["params"]]
            remap = {p: p - base for p in ids}
            state = {remap[int(p)]: st for p, st in sd["state"].items() if int(p) in remap}
            opt.load_state_dict({"state": state, "param_groups": [
                {k: v for k, v in g.items() if k != "record"} | {"params": [remap[p] for p in
                                                                           g["params"]]}
                for g in mine]})
            base += len(ids)


def _names(names) -> str:
    return ", ".join(f"'{n}'" for n in dict.fromkeys(names)) or "none"


@dataclass
class Record:
    """An optimizer record, compiled: the weights it moves, the objective of its losses."""
    spec: OptimizerRecord
    layers: dict[str, list[torch.nn.Parameter]]  # node -> its trainable parameters
    params: list[torch.nn.Parameter]
    objective: torch.fx.GraphModule
    feeds: list[str]  # the objective's placeholders
    opt: torch.optim.Optimizer
    step: object

    def set_lr(self, step: int, total: int) -> None:
        """The record's learning rate at `step` of `total` (cosine decay to lr_end): a
        function of the step alone, so a resumed run continues it exactly."""
        s = self.spec
        if s.lr_end is None:
            return
        lr = s.lr_end + 0.5 * (s.lr - s.lr_end) * (1 + math.cos(math.pi * step / max(total, 1)))
        for g in self.opt.param_groups:
            g["lr"] = lr

    def active(self, step: int) -> bool:
        """Whether it updates at `step` (0-based: the step about to be taken)."""
        s = self.spec
        return step >= s.start and (s.end is None or step < s.end) and \
            (step - s.start) % s.every == 0


class Recipe:
    """One training step. `optimizer` is what checkpoints save (None: no optimizer)."""
    name = ""

    def __init__(self, trainer: "Trainer", c: Compiled, trainable: list, needed: list[str]):
        self.t = trainer
        self.c = c
        self.s = trainer.settings
        self.trainable = trainable
        self.needed = needed  # the data fields' nodes, in batch order
        self.noise = {n: c.graph.spec(n).resolved(c.graph.params(n)) for n in c.feeds
                      if c.graph.spec(n).role == "noise"}
        self.optimizer = None

    @property
    def lr(self) -> float:
        opt = self.optimizer
        return opt.param_groups[0]["lr"] if opt is not None else self.s.lr

    def step(self, batch: list[torch.Tensor], log_now: bool, check: bool) -> StepResult:
        raise NotImplementedError

    def epoch_metrics(self) -> dict[str, float]:
        """Metrics of the model itself at an epoch's end (a generator's samples judged)."""
        return {}

    def events(self, step: int, last: bool) -> list:
        """Events to yield after a step besides the Trainer's own (live samples)."""
        return []

    # Shared pieces --------------------------------------------------------------------------
    def args(self, feeds: list[str], batch: list[torch.Tensor],
             generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """The objective's arguments: data by node name, a fresh noise batch for each Noise
        node (as many samples as the data batch)."""
        n = batch[0].shape[0] if batch else self.s.batch_size
        out = []
        for f in feeds:
            if f in self.noise:
                p = self.noise[f]
                out.append(sample_noise(n, p, batch[0].device if batch else self.t.device,
                                        generator))
            else:
                out.append(batch[self.needed.index(f)])
        return out

    def records(self) -> list[Record]:
        """The project's optimizer records, compiled (TrainingError for a bad one)."""
        from ..train import TrainingError, eager_step
        c, out = self.c, []
        graph = c.graph
        subnets = graph.subnets
        seen = set()
        for i, r in enumerate(self.s.optimizers):
            where = f"training.optimizers[{i}] ('{r.name}')"
            if r.name in seen:
                raise TrainingError(f"{where}: two optimizer records are named '{r.name}'")
            seen.add(r.name)
            for l in r.losses:
                if l not in graph or graph.spec(l).role != "loss":
                    raise TrainingError(f"{where}: '{l}' is not a loss node of this graph "
                                        f"(its losses: {', '.join(c.losses) or 'none'})")
            if r.subnet and r.subnet not in subnets:
                raise TrainingError(f"{where}: there is no sub-network '{r.subnet}' (the graph "
                                    f"has {', '.join(sorted(subnets)) or 'none'})")
            members = set(subnets[r.subnet]) if r.subnet else None
            layers = {n: ps for n, ps in self.t.by_layer.items()
                      if members is None or n in members}
            params = [p for ps in layers.values() for p in ps]
            if not params:
                raise TrainingError(f"{where}: the sub-network '{r.subnet}' has no weights to "
                                    "train")
            objective, feeds = objective_for(c, r.losses)
            opt = build_optimizer(r.optimizer, params, r.lr, r.momentum, r.weight_decay,
                                  r.beta1)
            out.append(Record(r, layers, params, objective, feeds, opt, eager_step(opt)))
        return out


def sample_noise(n: int, params: dict, device, generator: torch.Generator | None = None):
    if generator is None:
        return ops.sample_noise(n, params["shape"], params["distribution"], device)
    size = (n, *params["shape"])
    if params["distribution"] == "uniform":
        return (torch.rand(size, generator=generator) * 2 - 1).to(device)
    return torch.randn(size, generator=generator).to(device)


def finite_or_raise(trainer, c, args, loss, by_layer, objective=None) -> float:
    """Read the loss (free on the CPU); a non-finite one raises with its diagnosis (`args`:
    what `objective`, by default the whole one, was called with)."""
    lv = loss.item()
    if not math.isfinite(lv):
        loss.backward()  # for the diagnosis only: no optimizer step follows
        raise trainer._non_finite(c, args, loss, by_layer, objective)
    return lv
