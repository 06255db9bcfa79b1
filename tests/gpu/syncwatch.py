"""SyncWatch: the host syncs a Trainer's run makes outside its log steps.

On a GPU the Trainer reads the loss back (a sync) only at log steps and epoch ends
(runtime/train_loop.py: `_log`, and the epoch's report); every other step must queue its
work without waiting for the device. With torch.cuda.set_sync_debug_mode("warn") each
synchronizing CUDA call (.item(), .cpu(), a blocking copy, torch.nonzero, …) issues a
warning; the watch records the warnings issued while it is armed, with the stack in the
repository's code, and the step they came in.

Armed: from the end of `_hold` (the check for pause and stop before each step: the batch is
gathered next) until `_is_log_step` says the step is a log step (the step's own work, the
metrics' records and the recipe's events then run disarmed) or, on other steps, until the
next step's `_hold`. So the gather is watched at every step, and the whole of every step
that is not a log step.

On the CPU (the twin) nothing warns by itself: `simulate_item_sync` makes Tensor.item()
issue the same warning (except torch's own calls: its optimizers read step counters that
live on the host on a GPU too), so that the arming can be tested where there is no GPU.
"""
from __future__ import annotations

import contextlib
import sys
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
TORCH = Path(torch.__file__).resolve().parent
MESSAGE = "synchronizing CUDA operation"  # torch's warning: "called a synchronizing CUDA …"


@dataclass
class Sync:
    step: int
    frames: list[str]  # file:line function, the repository's frames, innermost last

    def where(self) -> str:
        return self.frames[-1] if self.frames else "(outside the repository)"

    def inside(self, part: str) -> bool:
        """Whether any of its frames is in a file under `part` (e.g. 'runtime/detection/')."""
        return any(f.startswith(part) for f in self.frames)


@dataclass
class SyncWatch:
    trainer: object
    armed: bool = False
    step: int = 0
    log_steps: int = 0
    other_steps: int = 0
    syncs: list[Sync] = field(default_factory=list)  # armed ones
    total: int = 0  # every sync warning, armed or not

    def __post_init__(self):
        t = self.trainer
        for name in ("_hold", "_is_log_step", "pos"):
            assert hasattr(t, name), f"Trainer has no {name}: update tests/gpu/syncwatch.py"
        hold, is_log = t._hold, t._is_log_step

        def watched_hold(window):
            self.armed = False
            stop = yield from hold(window)
            if not stop:
                self.step = t.pos.step + 1
                self.armed = True
            return stop

        def watched_is_log(total, epoch_end):
            log = is_log(total, epoch_end)
            if log:
                self.armed = False
                self.log_steps += 1
            else:
                self.other_steps += 1
            return log

        t._hold, t._is_log_step = watched_hold, watched_is_log

    def _show(self, message, category, filename, lineno, file=None, line=None):
        if MESSAGE not in str(message):
            return self._shown(message, category, filename, lineno, file, line)
        self.total += 1
        if self.armed:
            frames = [f"{Path(f.filename).resolve().relative_to(ROOT)}:{f.lineno} {f.name}"
                      for f in traceback.extract_stack()[:-1]
                      if _ours(f.filename)]
            self.syncs.append(Sync(self.step, frames))

    @contextlib.contextmanager
    def watching(self, cuda: bool):
        """Records the sync warnings while the block runs (on CUDA: sync debug mode 'warn')."""
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            self._shown = warnings.showwarning
            warnings.showwarning = self._show
            if cuda:
                torch.cuda.set_sync_debug_mode("warn")
            try:
                yield self
            finally:
                if cuda:
                    torch.cuda.set_sync_debug_mode(0)
                self.armed = False

    def synced_steps(self, ignore: str | None = None) -> set[int]:
        """The steps (1-based) with at least one armed sync (those with a frame under
        `ignore` left out)."""
        return {s.step for s in self.syncs if ignore is None or not s.inside(ignore)}

    def report(self, limit: int = 8) -> str:
        seen: dict[str, int] = {}
        for s in self.syncs:
            key = " <- ".join(reversed(s.frames[-4:]))
            seen[key] = seen.get(key, 0) + 1
        lines = [f"{n} x {k}" for k, n in sorted(seen.items(), key=lambda kv: -kv[1])]
        return "\n".join(lines[:limit]) or "no syncs"


def _ours(filename: str) -> bool:
    try:
        rel = Path(filename).resolve().relative_to(ROOT)
    except ValueError:
        return False
    return rel.parts[0] in ("runtime", "graph")


@contextlib.contextmanager
def simulate_item_sync():
    """The CPU twin's stand-in for a GPU sync: Tensor.item() warns as CUDA would."""
    item = torch.Tensor.item

    def warned(self):
        # torch.optim's own reads (Adam's step count) are of host tensors on a GPU too
        if not Path(sys._getframe(1).f_code.co_filename).is_relative_to(TORCH):
            warnings.warn(f"called a {MESSAGE} (simulated on the CPU)", UserWarning,
                          stacklevel=2)
        return item(self)

    torch.Tensor.item = warned
    try:
        yield
    finally:
        torch.Tensor.item = item
