"""Trained weights as safetensors files: no pickle, written atomically."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from graph.fileio import atomic_write_bytes


class WeightsError(Exception):
    pass


def save_weights(module: torch.nn.Module, path: str | os.PathLike, metadata: dict | None = None) -> None:
    state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    meta = {"format": "layerloom.weights", **(metadata or {})}
    atomic_write_bytes(path, st_save(state, metadata=meta))


def load_weights(module: torch.nn.Module, path: str | os.PathLike,
                 others: set[str] = frozenset()) -> None:
    """Load a safetensors file into `module`, naming the node of any mismatch. `others`:
    weights the file may hold besides the module's, left out (a GAN's checkpoint holds the
    discriminator too; the model that exports is the generator)."""
    p = Path(path)
    try:
        state = st_load(p.read_bytes())
    except FileNotFoundError:
        raise WeightsError(f"{p}: no such file") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{p}: not a readable safetensors file ({e})") from None
    own = module.state_dict()
    state = {k: v for k, v in state.items() if k in own or k not in others}
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if missing or extra:
        what = (f"has no weights for {', '.join(missing[:3])}" if missing
                else f"has weights for {', '.join(extra[:3])}, which this graph lacks")
        raise WeightsError(f"{p}: {what} (were they saved from another version of the graph?)")
    for k in own:  # in the model's order, so the first layer at fault is named
        v = state[k]
        if tuple(v.shape) != tuple(own[k].shape):
            node = k.split(".")[0]
            raise WeightsError(f"{p}: '{k}' has shape {tuple(v.shape)} but node '{node}' now "
                               f"needs {tuple(own[k].shape)}")
    module.load_state_dict(state)
