"""The random streams a run draws from. Each is seeded from `training.seed` plus its own
offset, so one stream's use never shifts another's: a resumed run draws the same batches,
and the Try panel's noise is the same every time."""
from __future__ import annotations

import torch

SHUFFLE = 1  # the order of the training samples, epoch by epoch (saved in checkpoints)
EVAL_NOISE = 2  # a generator's noise when the objective is evaluated: the same each time
LIVE_NOISE = 3  # the fixed noise batches of a GAN's live view and of its judge
TRY_NOISE = 7  # the fixed noise of the Try panel's generated samples


def stream(seed: int, offset: int) -> torch.Generator:
    """A CPU generator for the stream `offset` of a run seeded `seed`."""
    return torch.Generator().manual_seed(seed + offset)
