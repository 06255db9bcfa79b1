"""Augmentation of the training images (issue 27 item 2): the data settings' random resized
crop, flips, rotation and colour jitter, applied per training batch on the device by kornia's
batch transforms; never to validation or evaluation data.

    augment = make_augmenter(project.data.augment, compiled, needed, train, seed, position)
    batch = augment(batch)          # a plain callable: list of tensors in, list out

Only the fields bound to image Inputs (N × C × H × W floats) change; labels pass through.
Each batch's random draws come from a CPU generator seeded from the run's seed and the step
(kornia samples its parameters on the CPU from torch's default generator, which is swapped in
for the call and restored after): a run is reproducible, a resumed run draws what the
uninterrupted one drew, and dropout's stream is untouched.

Why kornia: the trainer holds both splits as device tensors and makes a batch by indexing, so
transforms over a whole batch on the same device fit without a DataLoader; kornia is made of
torch ops (no torchvision, which does not import here), and samples per-image parameters for a
whole batch at once. Its cost per batch is in BENCHMARKS.md (tests/benchmarks/bench_augment.py).

Normalisation is no transform here: it is a module of the compiled model
(compile_graph(normalize=...), ops.Normalize), so exports take raw images.
"""
from __future__ import annotations

import torch

from graph.settings import AugmentSettings
from graph.spec import NodeRole, PortRole

from .compile import Compiled, normalizable
from .errors import TrainingError

AUGMENT = 4  # this stream's offset from training.seed (see seeds.py: SHUFFLE 1, ...)
_STEP_STRIDE = 1_000_003  # seeds of different runs' steps do not meet for a million steps
# The roles of values that sit in an image's pixel frame: a crop or flip would move the image
# and leave them where they were.
_IN_FRAME = (PortRole.GT_BOXES, PortRole.GT_MASKS, PortRole.PROPOSALS, PortRole.ANCHORS)


class AugmentError(TrainingError):
    """The augmentation settings cannot apply to this graph or dataset (said in words)."""


def image_inputs(c: Compiled, needed: list[str]) -> list[int]:
    """Positions in the batch (`needed`, the objective's data placeholders) of the image
    Inputs: float samples of C × H × W."""
    images = set(normalizable(c.graph, c.analysis))
    return [i for i, n in enumerate(needed) if n in images]


def refusal(settings: AugmentSettings, c: Compiled, needed: list[str],
            train: list[torch.Tensor] | None = None) -> str | None:
    """Why the settings' random transforms cannot apply to this run (None: they can)."""
    at = image_inputs(c, needed)
    where = "data.augment"
    if not at:
        kinds = ", ".join(f"'{n}' ({_shape(c, n)})" for n in needed
                          if c.graph.spec(n).role == NodeRole.INPUT) or "none"
        return (f"{where}: augmentation transforms images (an Input of C × H × W floats), and "
                f"this graph's Inputs are {kinds}: a sequence, a table or token ids cannot be "
                "cropped or flipped. Turn augmentation off.")
    g = c.graph
    if settings.geometric:
        for n in needed:
            if any(g.feeds(n, role) for role in _IN_FRAME):
                return (f"{where}: '{n}' holds boxes or masks in the image's frame (a detection "
                        "dataset): a crop, flip or rotation would move the images and not "
                        "them. Turn the crop, flips and rotation off (colour jitter applies).")
        for n in needed:
            t = c.analysis.out_type(n, g.spec(n).value_port)
            if g.spec(n).role == NodeRole.TARGET and t is not None and \
                    len(t.sample_shape) >= 2:
                return (f"{where}: the Target '{n}' is {_shape(c, n)} (a map of the image): a "
                        "crop, flip or rotation would not move it with the image. Turn them "
                        "off (colour jitter applies).")
    channels = {needed[i]: c.analysis.out_type(needed[i], g.spec(needed[i]).value_port)
                .sample_shape[0] for i in at}
    if settings.saturation > 0 or settings.hue > 0:
        grey = [n for n, ch in channels.items() if ch != 3]
        if grey:
            return (f"{where}: saturation and hue change colour, and the Input '{grey[0]}' has "
                    f"{channels[grey[0]]} channel{'s' * (channels[grey[0]] != 1)} (they need "
                    "3, RGB): set them to 0 (brightness and contrast apply).")
    if settings.colour and train is not None:
        for i in at:
            lo, hi = float(train[i].min()), float(train[i].max())
            if lo < -1e-6 or hi > 1 + 1e-6:
                return (f"{where}: colour jitter works on pixels in [0, 1], and the field bound "
                        f"to '{needed[i]}' holds values from {lo:.4g} to {hi:.4g}: scale the "
                        "images to [0, 1] (normalisation belongs after, in the model) or set "
                        "brightness, contrast, saturation and hue to 0.")
    return None


def _shape(c: Compiled, n: str) -> str:
    t = c.analysis.out_type(n, c.graph.spec(n).value_port)
    return "?" if t is None else " × ".join(str(d) for d in t.sample_shape) or "a scalar"


def transforms(settings: AugmentSettings, size: tuple[int, int]) -> torch.nn.Module:
    """The settings' kornia transforms over N × C × H × W images of `size` (H, W), in the
    usual order: crop, flips, rotation, colour."""
    import kornia.augmentation as K
    steps: list[torch.nn.Module] = []
    crop = settings.random_resized_crop
    if crop is not None:
        steps.append(K.RandomResizedCrop(size, scale=tuple(crop.scale),
                                         ratio=tuple(crop.ratio), p=1.0))
    if settings.hflip > 0:
        steps.append(K.RandomHorizontalFlip(p=settings.hflip))
    if settings.vflip > 0:
        steps.append(K.RandomVerticalFlip(p=settings.vflip))
    if settings.rotation > 0:
        steps.append(K.RandomRotation(settings.rotation, p=1.0))
    if settings.colour:
        steps.append(K.ColorJitter(settings.brightness, settings.contrast,
                                   settings.saturation, settings.hue, p=1.0))
    return torch.nn.Sequential(*steps)


class Augmenter:
    """`augment(batch) -> batch`: the image fields (positions `at`) transformed, the others as
    they were. `position`: an object with `.step` (the trainer's Position), read for each
    batch's seed; without one the calls are counted."""

    def __init__(self, settings: AugmentSettings, at: list[int], sizes: list[tuple[int, int]],
                 seed: int, position=None):
        self.settings, self.at, self.seed, self.position = settings, at, seed, position
        self.pipes = [transforms(settings, size) for size in sizes]
        self.calls = 0

    def seed_for(self, step: int) -> int:
        return (self.seed + AUGMENT) * _STEP_STRIDE + step

    def __call__(self, batch: list[torch.Tensor]) -> list[torch.Tensor]:
        step = self.position.step if self.position is not None else self.calls
        self.calls += 1
        out = list(batch)
        saved = torch.get_rng_state()
        try:
            torch.default_generator.manual_seed(self.seed_for(step))  # the CPU one only
            with torch.no_grad():
                for i, pipe in zip(self.at, self.pipes):
                    x = batch[i]
                    y = pipe(x)
                    if x.dim() == 4 and not x.is_contiguous() and \
                            x.is_contiguous(memory_format=torch.channels_last):
                        y = y.contiguous(memory_format=torch.channels_last)
                    out[i] = y.to(x.dtype)
        finally:
            torch.set_rng_state(saved)
        return out


def make_augmenter(settings: AugmentSettings, c: Compiled, needed: list[str],
                   train: list[torch.Tensor] | None, seed: int, position=None) -> Augmenter | None:
    """The run's augmenter, or None when no random transform is on; AugmentError (in
    words) when the settings cannot apply to this graph and data."""
    if not settings.random:
        return None
    why = refusal(settings, c, needed, train)
    if why:
        raise AugmentError(why)
    at = image_inputs(c, needed)
    sizes = [tuple(c.analysis.out_type(needed[i], c.graph.spec(needed[i]).value_port)
                   .sample_shape[1:]) for i in at]
    return Augmenter(settings, at, sizes, seed, position)


def preview(settings: AugmentSettings, images: torch.Tensor, ways: int = 8,
            seed: int = 0) -> torch.Tensor:
    """`ways` augmented versions of a few images (k × C × H × W in [0, 1]), as ways × k × C ×
    H × W: what the data form's preview grid shows (the same draws as steps 0, 1, … of a run
    seeded `seed`)."""
    aug = Augmenter(settings, [0], [tuple(images.shape[-2:])], seed)
    return torch.stack([aug([images])[0] for _ in range(ways)])
