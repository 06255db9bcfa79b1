"""The small records a training run yields (ARCHITECTURE.md, principle 5). Plain data: the CLI
prints them, the GUI plots them, `to_dict()` makes them JSON."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Event:
    def to_dict(self) -> dict:
        return {"event": self.kind, **asdict(self)}

    @property
    def kind(self) -> str:
        return type(self).__name__.lower()


@dataclass(frozen=True)
class Started(Event):
    device: str  # "cpu", "cuda:0", ...
    device_name: str  # "CPU", "NVIDIA H100 80GB HBM3", ...
    epochs: int
    steps_per_epoch: int
    total_steps: int
    n_train: int
    n_val: int
    parameters: int
    layers: list[str]  # nodes with trainable weights, in forward order
    recipe: str
    log_every: int = 10  # a Step (and GradStats) every this many steps, and at epoch ends
    # What a trivial model scores on this data ({"constant_mse": 0.167}): the bar to beat.
    baselines: dict = field(default_factory=dict)
    vocab: list | None = None  # token id -> character, for text data (the app decodes with it)
    # Named values each Step carries besides the loss (each record's losses, D(x), …)
    values: list = field(default_factory=list)
    # What the run says once at its start (torch.compile's fallback to eager, and why)
    notes: list = field(default_factory=list)


@dataclass(frozen=True)
class Preparing(Event):
    """Before Started, while the data is made ready: `done` of `total` items of `what`
    (region proposals by selective search, computed once, then cached). `note`: why it is
    computed again although it was cached (the cache file was damaged), or empty."""
    what: str
    done: int
    total: int
    note: str = ""


@dataclass(frozen=True)
class Step(Event):
    """Emitted every `log_every` steps: loss is the mean over those steps."""
    step: int
    epoch: int
    loss: float
    lr: float
    samples_per_s: float
    values: dict = field(default_factory=dict)  # Started.values, means over the same steps
    # The share of the window's time its steps waited for their batch (0 to 1): the data
    # pipeline's starvation (streamed data: next(loader); in memory: the indexing, near 0)
    data_wait: float = 0.0


@dataclass(frozen=True)
class Samples(Event):
    """A generator's samples of a fixed noise batch, a few times a second (the live view):
    `fake` M × shape as nested lists, `real` some training samples beside them, `metrics`
    what the dataset makes of them (the ring: modes covered, share of good samples).
    `epoch_end`: taken after the epoch's last step (the weights of its EpochEnd, which
    follows): the run folder keeps these, one per epoch (runtime/runs.py, samples/)."""
    step: int
    epoch: int
    real: list
    fake: list
    shape: list
    metrics: dict = field(default_factory=dict)
    epoch_end: bool = False


@dataclass(frozen=True)
class GradStats(Event):
    """Per-layer gradient L2 norms (all of a node's parameters together), and for recurrent
    layers the norm of ∂L/∂x_t at each time step t of their input (mean over the batch):
    where it falls towards zero for early t, those steps no longer teach the network (the
    vanishing gradient of backpropagation through time)."""
    step: int
    norms: dict[str, float]
    time_norms: dict[str, list] = field(default_factory=dict)


@dataclass(frozen=True)
class EpochEnd(Event):
    epoch: int
    step: int
    metrics: dict[str, float]  # loss, accuracy, …, val_loss, val_accuracy, …
    seconds: float


@dataclass(frozen=True)
class Stopped(Event):
    """The run was stopped on request; weights are those after the last full step."""
    step: int
    epoch: int
    reason: str = "stopped by the user"


@dataclass(frozen=True)
class Paused(Event):
    step: int
    epoch: int


@dataclass(frozen=True)
class Resumed(Event):
    step: int
    epoch: int


@dataclass(frozen=True)
class Finished(Event):
    step: int
    epoch: int
    seconds: float
    final_loss: float
    metrics: dict[str, float] = field(default_factory=dict)
    samples_per_s: float = 0.0
    device: str = "cpu"


@dataclass(frozen=True)
class Failed(Event):
    """The run could not go on; `node` names the layer at fault when one is known."""
    message: str
    step: int = 0
    node: str | None = None
