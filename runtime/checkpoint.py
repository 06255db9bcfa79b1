"""Training checkpoints: everything a run needs to continue exactly where it stopped.

A checkpoint is a folder:
  model.safetensors      the weights of every node (the compiled modules' state_dict)
  optimizer.safetensors  the optimizer's tensors (Adam's moments, momentum buffers, steps)
  state.safetensors      RNG states and the current epoch's sample order
  trainer.json           step, epoch, position in the epoch, the optimizer's plain values
No pickle: tensors go to safetensors, the rest to JSON. Written to a temp folder and renamed,
so a crash mid-save leaves the previous checkpoint whole.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from graph.fileio import atomic_folder


class CheckpointError(Exception):
    pass


@dataclass
class Position:
    step: int
    epoch: int  # the epoch in progress (1-based)
    next_index: int  # where in this epoch's order the next batch starts
    samples_total: int


@dataclass
class Snapshot:
    """A checkpoint held in memory (CPU copies), to be written later: the best epoch so far
    is kept this way and written at most every few seconds."""
    model: dict
    optimizer: dict
    plain: dict
    state: dict
    info: dict


def snapshot(modules: torch.nn.Module, optimizer, pos: Position, order: torch.Tensor | None,
             shuffle: torch.Generator, extra: dict | None = None) -> Snapshot:
    model = {k: v.detach().cpu().clone().contiguous() for k, v in modules.state_dict().items()}
    tensors, plain = {}, {}
    if optimizer is not None:
        sd = optimizer.state_dict()
        for pid, st in sd["state"].items():
            for name, v in st.items():
                if isinstance(v, torch.Tensor):
                    tensors[f"{pid}.{name}"] = v.detach().cpu().clone().contiguous()
                else:
                    plain.setdefault(str(pid), {})[name] = v
        plain = {"state": plain, "param_groups": sd["param_groups"]}
    state = {"torch_rng": torch.get_rng_state(), "shuffle_rng": shuffle.get_state()}
    if order is not None:
        state["order"] = order.cpu().clone()
    info = {"format": "layerloom.checkpoint", "position": asdict(pos), "optimizer": plain,
            **(extra or {})}
    return Snapshot(model, tensors, plain, state, info)


def write(folder: str | os.PathLike, snap: Snapshot) -> None:
    with atomic_folder(folder) as tmp:
        save_file(snap.model, tmp / "model.safetensors", metadata={"format": "layerloom.weights"})
        save_file(snap.optimizer or {"_empty": torch.zeros(0)}, tmp / "optimizer.safetensors")
        save_file(snap.state, tmp / "state.safetensors")
        (tmp / "trainer.json").write_text(json.dumps(snap.info, indent=1))


@dataclass
class Loaded:
    position: Position
    model: dict[str, torch.Tensor]
    optimizer_state: dict | None
    torch_rng: torch.Tensor
    shuffle_rng: torch.Tensor
    order: torch.Tensor | None
    info: dict


def load(folder: str | os.PathLike) -> Loaded:
    folder = Path(folder)
    try:
        info = json.loads((folder / "trainer.json").read_text())
        if info.get("format") != "layerloom.checkpoint":
            raise CheckpointError(f"{folder}: not a LayerLoom checkpoint")
        model = load_file(folder / "model.safetensors")
        opt_tensors = load_file(folder / "optimizer.safetensors")
        state = load_file(folder / "state.safetensors")
    except FileNotFoundError as e:
        raise CheckpointError(f"{folder}: incomplete checkpoint ({Path(e.filename).name} is "
                              "missing)") from None
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{folder}: unreadable checkpoint ({e})") from None
    opt = info.get("optimizer") or None
    optimizer_state = None
    if opt and opt.get("param_groups"):
        st: dict[int, dict] = {}
        for pid, values in opt.get("state", {}).items():
            st.setdefault(int(pid), {}).update(values)
        for key, v in opt_tensors.items():
            if key == "_empty":
                continue
            pid, name = key.split(".", 1)
            st.setdefault(int(pid), {})[name] = v
        optimizer_state = {"state": st, "param_groups": opt["param_groups"]}
    return Loaded(Position(**info["position"]), model, optimizer_state, state["torch_rng"],
                  state["shuffle_rng"], state.get("order"), info)
