"""What the data form's augmentation preview shows (app/augment_form.py): the first few
training samples of the project's first image Input as they are read (the originals), the
same samples augmented several ways by the project's settings (runtime/augment.preview: the
draws of steps 0, 1, … of a run), and each sample's class name where the data has classes and
a Target bound to a class index (an image folder's subfolder names)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from graph.spec import NodeRole

from .augment import AugmentError, image_inputs, preview, refusal


@dataclass
class Preview:
    originals: np.ndarray  # k × C × H × W in [0, 1]
    augmented: np.ndarray  # ways × k × C × H × W
    labels: list[str] | None  # k class names, or None where the data has none


def _labels(c, bind, dataset, needed: list[str], idx: torch.Tensor) -> list[str] | None:
    """The class names of samples `idx`: the first Target bound to whole class indices."""
    from .binding import bind_data
    classes = dataset.classes
    if not classes:
        return None
    for n in needed:
        if c.graph.spec(n).role != NodeRole.TARGET:
            continue
        t = bind_data(c, bind, dataset, [n])[n]
        if t.dim() != 1 or t.is_floating_point():
            continue
        y = t[idx]
        if bool(((y >= 0) & (y < len(classes))).all()):
            return [classes[int(v)] for v in y]
    return None


def preview_rows(project, base_dir=None, k: int = 4, ways: int = 8) -> Preview:
    """The preview of the first `k` training samples, augmented `ways` ways. DataError,
    CompileError or AugmentError (in words) when it cannot be shown."""
    from .binding import bind_data
    from .compile import compile_graph
    from .data import load_dataset
    from .train import split
    data, s = project.data, project.training
    c = compile_graph(project.graph)
    needed = [p for p in c.feeds if p not in c.noise_inputs] if c.objective else c.inputs
    at = image_inputs(c, needed)
    why = refusal(data.augment, c, needed) if data.augment.random or not at else None
    if why:
        raise AugmentError(why)
    dataset = load_dataset(data.dataset, data.options, s.seed, base_dir)
    node = needed[at[0]]
    _, train_idx = split(len(dataset), s.seed, s.val_split, dataset.name)
    idx = train_idx[:k]
    images = bind_data(c, data.bind, dataset, [node])[node][idx].float()
    if data.augment.colour:
        why = refusal(data.augment, c, [node], [images])
        if why:
            raise AugmentError(why)
    return Preview(images.numpy(), preview(data.augment, images, ways, s.seed).numpy(),
                   _labels(c, data.bind, dataset, needed, idx))
