"""Training settings and the data binding, as saved in a project file.

Pydantic models: a bad value in a hand-edited file is reported with its exact place, e.g.
"training.lr: Input should be greater than 0".
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import (BaseModel, ConfigDict, Field, field_validator, model_serializer,
                      model_validator)

OPTIMIZERS = {
    "gd": "Gradient descent: one update per pass over the whole training set (full batch).",
    "sgd": "Stochastic gradient descent: one update per training example (batch size 1).",
    "minibatch": "Mini-batch gradient descent: one update per batch of examples.",
    "adam": "Adam: adaptive per-weight learning rates; the usual first choice.",
}

RECIPES = {
    "supervised": "Backpropagation of the summed losses, with the optimizer below.",
    "perceptron": "The perceptron learning rule for Perceptron nodes: w ← w + η (y − ŷ) x.",
    "adversarial": "A GAN's two-player game: each optimizer record in turn updates its own "
                   "sub-network (the discriminator, then the generator) on its own losses, "
                   "with noise drawn afresh for each.",
    "sam": "Sharpness-Aware Minimization (Foret et al., 2021): each step takes the gradient "
           "at w + ε, ε = ρ g / ‖g‖ (sam_rho), and applies it at w with the optimizer below: "
           "flat minima, at twice the cost of a supervised step.",
}


class OptimizerRecord(BaseModel):
    """One optimizer over a part of the graph, as in Sony's Neural Network Console: which
    sub-network's weights it updates, on which loss nodes, with which solver, how often."""
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = Field(min_length=1, max_length=64, description="Shown in logs and curves.")
    subnet: str = Field("", description="The sub-network whose weights it updates ('' = all).")
    losses: list[str] = Field(min_length=1, description="The loss nodes it minimises (summed "
                                                        "with their weights).")
    optimizer: Literal["sgd", "minibatch", "adam"] = "adam"
    lr: float = Field(1e-3, gt=0, le=10)
    lr_end: float | None = Field(None, gt=0, le=10, description=(
        "Cosine decay: the learning rate falls from lr to lr_end over the run, "
        "η_t = η_end + ½ (η − η_end)(1 + cos(π t / T)) (none: constant). A GAN's players "
        "settle instead of circling each other at the end."))
    beta1: float = Field(0.9, ge=0, lt=1, description="Adam's β₁ (0.5 is the GAN custom).")
    momentum: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0, le=1)
    every: int = Field(1, ge=1, le=1_000_000, description=(
        "Update every this many steps: a generator with every = k takes one step per k "
        "discriminator steps."))
    start: int = Field(0, ge=0, description="The first step it updates at.")
    end: int | None = Field(None, ge=1, description="The step it stops updating at (none: "
                                                    "the end of the run).")


class TrainingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    recipe: Literal["supervised", "perceptron", "adversarial", "sam"] = "supervised"
    optimizer: Literal["gd", "sgd", "minibatch", "adam"] = "adam"
    lr: float = Field(1e-3, gt=0, le=10, description="Learning rate η.")
    momentum: float = Field(0.0, ge=0, lt=1, description="Momentum for gd, sgd and minibatch.")
    batch_size: int = Field(32, ge=1, le=1_000_000)
    epochs: int = Field(10, ge=1, le=100_000)
    weight_decay: float = Field(0.0, ge=0, le=1, description="L2 regularisation strength λ.")
    clip_norm: float | None = Field(None, gt=0, description="Clip the gradient norm to τ.")
    sam_rho: float = Field(0.05, gt=0, le=10, description=(
        "The 'sam' recipe's radius ρ: the gradient is taken at w + ε, ε = ρ g / ‖g‖, the "
        "worst nearby weights to first order (0.05 is the paper's usual value; larger looks "
        "for flatter minima and may slow training). Other recipes ignore it."))
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    processes: int = Field(1, ge=1, le=64, description=(
        "Train in this many processes on this machine (DistributedDataParallel through "
        "torchrun: gloo on the CPU, nccl with one process per GPU). The batch size is per "
        "process; the live plots show process 0's. Only the supervised recipe with one "
        "optimizer runs in several processes; Pause is not offered for them."))
    precision: Literal["fp32", "bf16"] = Field("fp32", description=(
        "bf16: the forward pass runs under autocast in bfloat16 (matrix products and "
        "attention in half the memory and, on a GPU with tensor cores, several times "
        "faster; on a CPU without bfloat16 units slower: 0.37x measured on the 2-core dev "
        "machine); weights, optimizer and losses stay float32. fp32: everything in "
        "float32."))
    compile: bool = Field(False, description=(
        "Compile the model with torch.compile (TorchInductor) before training: fewer, fused "
        "kernels, worth it for long runs on a GPU; the first steps wait for the compilation. "
        "Where compilation fails the run goes on eagerly and says why."))
    seed: int = Field(0, ge=0, le=2**31 - 1)
    val_split: float = Field(0.2, ge=0, le=0.9, description="Share of samples held out.")
    optimizers: list[OptimizerRecord] = Field(default_factory=list, description=(
        "Several optimizers, each over its own sub-network and losses (a GAN's discriminator "
        "and generator); none: one optimizer, the settings above, over every weight."))
    best_metric: str = Field("", max_length=100, description=(
        "The epoch metric the 'best' checkpoint is chosen by ('' = val_loss, or loss "
        "without a validation split). Lower is better for losses and errors (…loss, …mae, "
        "…nats), higher for the rest (accuracy, exact_match, modes, quality)."))
    initial_weights: str = Field("", max_length=1000, description=(
        "The weights the model starts from instead of its initialisation: a .safetensors "
        "file, relative to the project file's folder (or absolute), such as the one "
        "`layerloom import` writes beside the project ('' = a fresh initialisation). Every "
        "weight of the model must be in it, under the graph's names and shapes; weights "
        "outside the model (a GAN's discriminator, a loss's own) and the standardizers' "
        "fitted values are taken from it when it holds them, else initialised or fitted as "
        "usual. A resumed run ignores it (its checkpoint wins)."))

    @field_validator("initial_weights")
    @classmethod
    def _weights_file(cls, v: str) -> str:
        if v and (not v.lower().endswith(".safetensors") or any(c in v for c in "\0\n\r")):
            raise ValueError("must be the path of a .safetensors file ('' = start from a "
                             "fresh initialisation)")
        return v

    @model_serializer(mode="wrap")
    def _omit_unset(self, handler):
        """Project files write initial_weights and compile only when set, and processes only
        when more than 1 (templates stay as they are)."""
        d = handler(self)
        if isinstance(d, dict):
            for name in ("initial_weights", "compile"):
                if not d.get(name):
                    d.pop(name, None)
            if d.get("processes") == 1:  # (written when more than one)
                d.pop("processes", None)
        return d


class CropSettings(BaseModel):
    """Random resized crop: a region of `scale` × the image's area, with aspect ratio (width
    / height) in `ratio`, cut out and resized back to the image's size."""
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    scale: tuple[float, float] = Field((0.6, 1.0), description=(
        "The crop's share of the image's area: low, high (0 < low ≤ high ≤ 1)."))
    ratio: tuple[float, float] = Field((0.75, 4 / 3), description=(
        "The crop's aspect ratio, width / height: low, high (0 < low ≤ high)."))

    @model_validator(mode="after")
    def _ordered(self):
        lo, hi = self.scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"scale: low and high must satisfy 0 < low ≤ high ≤ 1 (got {lo}, "
                             f"{hi})")
        lo, hi = self.ratio
        if not 0 < lo <= hi <= 10:
            raise ValueError(f"ratio: low and high must satisfy 0 < low ≤ high ≤ 10 (got {lo}, "
                             f"{hi})")
        return self


class NormalizeValues(BaseModel):
    """Per-channel normalisation with given values: y_c = (x_c − mean_c) / std_c."""
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    mean: list[float] = Field(min_length=1, max_length=64)
    std: list[float] = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _matching(self):
        if len(self.mean) != len(self.std):
            raise ValueError(f"mean has {len(self.mean)} values and std {len(self.std)}: "
                             "give one of each per channel")
        if any(not v > 0 for v in self.std):
            raise ValueError("std: every value must be greater than 0")
        return self


class AugmentSettings(BaseModel):
    """Augmentation of the training images (random, applied per batch on the device, never
    to validation data) and their normalisation (part of the model: exports take raw
    images). Everything off by default."""
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    random_resized_crop: CropSettings | None = Field(None, description=(
        "Cut a random region (share of the area in scale, aspect in ratio) and resize it to "
        "the image's size (none: no crop)."))
    hflip: float = Field(0.0, ge=0, le=1, description="Probability of a left-right flip.")
    vflip: float = Field(0.0, ge=0, le=1, description="Probability of an up-down flip.")
    rotation: float = Field(0.0, ge=0, le=180, description=(
        "Rotate by an angle drawn uniformly from ±this many degrees."))
    brightness: float = Field(0.0, ge=0, le=1, description=(
        "Colour jitter: brightness factor drawn from [1 − b, 1 + b] (pixels in [0, 1])."))
    contrast: float = Field(0.0, ge=0, le=1, description=(
        "Colour jitter: contrast factor drawn from [1 − c, 1 + c]."))
    saturation: float = Field(0.0, ge=0, le=1, description=(
        "Colour jitter: saturation factor drawn from [1 − s, 1 + s] (RGB images only)."))
    hue: float = Field(0.0, ge=0, le=0.5, description=(
        "Colour jitter: hue shift drawn from [−h, h] of a full turn (RGB images only)."))
    normalize: NormalizeValues | Literal["from data"] | None = Field(None, description=(
        "Normalise each channel, y = (x − mean) / std, inside the model (so exports take raw "
        "images): 'from data' fits mean and std on the training split; or given lists "
        "(one value per channel); none: no normalisation."))

    @property
    def random(self) -> bool:
        """Whether any random transform is on (normalisation alone is not augmentation)."""
        return (self.random_resized_crop is not None or self.hflip > 0 or self.vflip > 0
                or self.rotation > 0 or self.colour)

    @property
    def colour(self) -> bool:
        return any(v > 0 for v in (self.brightness, self.contrast, self.saturation, self.hue))

    @property
    def geometric(self) -> bool:
        return (self.random_resized_crop is not None or self.hflip > 0 or self.vflip > 0
                or self.rotation > 0)


class DataSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    dataset: str = ""
    options: dict[str, Any] = Field(default_factory=dict)
    bind: dict[str, str] = Field(default_factory=dict, description="node id -> dataset field")
    standardize: bool = Field(False, description=(
        "Standardise tabular features (z-score: subtract each feature's mean, divide by its "
        "standard deviation), fitted on the training split and saved with the model, so "
        "exports scale raw features the same way. Features of very different sizes (e.g. "
        "areas in the thousands beside ratios near 0.1) otherwise saturate the first layer "
        "and training stalls at the majority class."))
    augment: AugmentSettings = Field(default_factory=AugmentSettings, description=(
        "Augmentation of the training images, and their normalisation (graph/settings.py "
        "AugmentSettings; runtime/augment.py)."))
    workers: int | Literal["auto"] = Field("auto", description=(
        "DataLoader worker processes reading streamed data (runtime/data/stream.py): 'auto' "
        "takes min(4, CPUs − 1); 0 reads in the training process. Data held in memory "
        "needs none."))
    cache: bool = Field(False, description=(
        "Keep the decoded samples of streamed data in memory (in each worker process, up to "
        "a budget), so later epochs decode nothing: for data that fits memory once "
        "decoded, read from slow files."))

    @field_validator("workers", mode="before")
    @classmethod
    def _workers_in_range(cls, v):
        if isinstance(v, bool) or (isinstance(v, int) and not 0 <= v <= 64):
            raise ValueError("workers: 'auto' or a whole number 0 to 64")
        return v


def auto_bind(inputs: list[str], targets: list[str], fields: list[str],
              bind: dict[str, str]) -> dict[str, str]:
    """The binding with its obvious gaps filled: a node with no (valid) field takes the field
    of its own name, else the one Input takes 'x' and the one Target 'y'. Nodes already bound
    to an existing field keep it; nothing is bound twice."""
    out = {n: f for n, f in bind.items() if f in fields or n not in inputs + targets}
    taken = set(out.values())
    for nodes, default in ((inputs, "x"), (targets, "y")):
        for n in nodes:
            if n in out:
                continue
            pick = n if n in fields else default if len(nodes) == 1 and default in fields \
                else None
            if pick is not None and pick not in taken:
                out[n] = pick
                taken.add(pick)
    return out
