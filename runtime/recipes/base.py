"""What every recipe shares: the run it steps (RecipeContext), the step's result, optimizer
records, noise."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from graph.settings import OptimizerRecord, TrainingSettings

from ..checkpoint import Position
from ..compile import Compiled, Noise, objective_for
from ..devices import autocast
from ..diagnosis import non_finite_error
from ..errors import TrainingError
from ..optim import build_optimizer, eager_step


@dataclass
class RecipeContext:
    """What a recipe needs of the run it steps, given by the Trainer (which a recipe never
    sees). `pos` is the run's own position, advanced by the Trainer's loop: read, never set."""
    settings: TrainingSettings
    device: torch.device
    pos: Position
    total_steps: int  # the run's last step
    by_layer: dict[str, list[torch.nn.Parameter]]  # layer node -> its trainable parameters
    seq_nodes: dict[str, torch.nn.Module]  # recurrent layers: their input's gradient per step
    train_data: dict[str, torch.Tensor]  # the training split by node (no copies)
    dataset: object  # the run's runtime.data Dataset (a GAN's judge)

    def autocast(self):
        """The context a forward pass runs in (bf16 autocast, or nothing)."""
        return autocast(self.settings.precision, self.device)

    def non_finite(self, c: Compiled, batch, loss, by_layer, objective=None) -> TrainingError:
        """The diagnosis of a non-finite loss, named as at the step after the position's: the
        layer and node where it began, and what to try (`batch`: what `objective`, by default
        the whole one, was called with)."""
        return non_finite_error(c, batch, loss, by_layer, step=self.pos.step + 1,
                                epoch=self.pos.epoch, lr=self.settings.lr, objective=objective)

    def finite_or_raise(self, c: Compiled, args, loss, by_layer, objective=None) -> float:
        """Read the loss (free on the CPU); a non-finite one raises with its diagnosis
        (`args`: what `objective`, by default the whole one, was called with)."""
        lv = loss.item()
        if not math.isfinite(lv):
            loss.backward()  # for the diagnosis only: no optimizer step follows
            raise self.non_finite(c, args, loss, by_layer, objective)
        return lv


@dataclass
class StepResult:
    """One step: the loss it reports (a tensor on the device), that loss as a float where it
    was read already (the CPU), the objective's output (for the metrics), and named values
    to log beside the loss (each record's losses, D(x), …), as 0-dim tensors. On a log step,
    also each layer's gradient norm (None: no GradStats) and the recurrent layers' gradient
    per time step of their input."""
    loss: torch.Tensor
    value: float | None
    out: dict | None
    parts: dict[str, torch.Tensor] = field(default_factory=dict)
    norms: dict[str, float] | None = None
    time_norms: dict[str, list] = field(default_factory=dict)


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

    def __init__(self, ctx: RecipeContext, c: Compiled, trainable: list, needed: list[str]):
        self.ctx = ctx
        self.c = c
        self.s = ctx.settings
        self.trainable = trainable
        self.needed = needed  # the data fields' nodes, in batch order
        self.noise = {n: Noise.of(c.graph, n) for n in c.noise_inputs}
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
                out.append(self.noise[f].sample(n, batch[0].device if batch else
                                                self.ctx.device, generator))
            else:
                out.append(batch[self.needed.index(f)])
        return out

    def records(self) -> list[Record]:
        """The project's optimizer records, compiled (TrainingError for a bad one)."""
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
            layers = {n: ps for n, ps in self.ctx.by_layer.items()
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


