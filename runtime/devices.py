"""Where a run trains: the device chosen, its name, whether its precision is supported
there, bf16 autocast, and whether to train in channels-last memory."""
from __future__ import annotations

import contextlib
import platform

import torch

from .compile import Compiled
from .errors import TrainingError


def available_devices() -> list[str]:
    out = ["cpu"]
    if torch.cuda.is_available():
        out.insert(0, "cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        out.insert(0, "mps")
    return out


def pick_device(choice: str) -> torch.device:
    """'auto': cuda, then mps, then cpu."""
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice not in available_devices():
        raise TrainingError(f"device '{choice}' was asked for, but this machine has none "
                            f"(available: {', '.join(available_devices())})")
    return torch.device(choice)


def device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    if dev.type == "mps":
        return "Apple GPU (MPS)"
    n = torch.get_num_threads()
    return f"CPU ({platform.machine()}, {n} thread{'s' if n != 1 else ''})"


def check_precision(precision: str, dev: torch.device) -> None:
    """TrainingError unless `dev` can train in `precision`."""
    if precision == "bf16" and dev.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise TrainingError(f"precision bf16: {device_name(dev)} has no bfloat16 support; "
                            "choose fp32")
    if precision == "bf16" and dev.type not in ("cuda", "cpu"):
        raise TrainingError(f"precision bf16 runs on a CUDA GPU or the CPU, not on "
                            f"{dev.type}; choose fp32")


def autocast(precision: str, dev: torch.device):
    """bf16 autocast around a forward pass when the settings ask for it (float32
    weights, optimizer and losses); else nothing."""
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(dev.type, dtype=torch.bfloat16)


# Channels-last memory ---------------------------------------------------------------------------
def channels_last_suits(c: Compiled) -> bool:
    """Whether the graph's layers are worth training in channels-last memory and all known to
    be fine there, as each layer's spec says (NodeSpec.channels_last).

    "gains": image layers whose CPU kernels are faster in channels-last memory (NHWC); "safe":
    types measured to give the same results there (tests/runtime/test_train.py). Max pooling
    an 8x8 map in NCHW took 7x as long; the CNN template trains 1.25x faster on one thread,
    1.17x on two, and as fast on one thread as on two (BENCHMARKS.md). Any other type keeps
    NCHW. "flat" (Dropout) counts as fine on flat features only: on an image its random mask
    would follow the memory order, a different (equally random) draw from the one the same
    seed gives in NCHW."""
    gains = False
    for n in c.graph.nodes():
        how = c.graph.spec(n).channels_last
        if how == "flat":
            out = c.analysis.out_type(n, c.graph.spec(n).outputs[0].name)
            how = "safe" if out is not None and len(out.shape) <= 2 else ""
        if not how:
            return False
        gains |= how == "gains"
    return gains


def use_channels_last(c: Compiled, dev: torch.device) -> bool:
    """Whether to train in channels-last memory: on the CPU, for a graph that suits it
    (channels_last_suits). Only the memory layout changes: values, shapes and the saved
    weights (made contiguous) are the same."""
    if dev.type != "cpu":
        return False
    return channels_last_suits(c)


def to_channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t
