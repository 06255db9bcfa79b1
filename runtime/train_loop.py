"""The Trainer's epoch loop (a mixin of `runtime.train.Trainer`): the steps of each epoch,
pausing and stopping between steps, the Step and GradStats events at log steps, EpochEnd at
each epoch's end and Finished at the run's; with the run's prepared data (`_Run`) and the
sums of losses a log window and an epoch report (`_Sums`, `_Window`).

The Trainer prepares the run (runtime/train.py) and then calls `_train(run)`; the loop reads
these attributes of it: settings, pos, device, compiled, recipe, total_steps, log_every,
_n_train, _order, _shuffle, _ctx, _stop, _pause and _watchers (runtime/watch.py: asked for
events after each step and at each epoch's end; none, and no cost, where none applies).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from . import distributed as D
from .evaluation import Evaluator
from .events import EpochEnd, Event, Finished, GradStats, Paused, Resumed, Step, Stopped
from .loader import FIT_SAMPLES, Stream, bind_stream
from .recipes import StepResult


@dataclass
class _Run:
    """The data and schedule of a run, once prepared: the data fields' nodes in batch order
    (`needed`), the two splits' tensors on the device in that order, the batch size and the
    number of steps an epoch takes, and whether the loss is read at every step (`on_host`)."""
    needed: list[str]
    train: list[torch.Tensor]
    val: list[torch.Tensor]
    n_val: int
    batch_size: int = 0
    steps_per_epoch: int = 0
    on_host: bool = True
    evaluator: Evaluator | None = None
    augment: Callable[[list], list] | None = None  # training batches only (runtime/augment.py)
    # Streamed data (runtime/loader.py): batches come from DataLoaders; train and val then
    # hold a sample of the training split (fits and checks), not the splits
    stream: Stream | None = None


class _Sums:
    """Step losses and named values summed over a stretch of steps: over a log window each
    step counts once, over an epoch each counts its samples. `on_host`: the loss was read at
    each step, and is summed as a float (no tensor ops per step); else it stays a tensor on
    the device, read back (a sync) by loss_mean() only."""

    def __init__(self, dev: torch.device, on_host: bool, per_sample: bool):
        self.dev, self.on_host, self.per_sample = dev, on_host, per_sample
        self.reset()

    def reset(self) -> None:
        self.loss = 0.0 if self.on_host else torch.zeros((), device=self.dev)
        self.n = 0  # steps, or samples
        self.parts: dict[str, list] = {}  # name -> [sum, steps or samples]

    def add(self, res: StepResult, nb: int) -> None:
        w = nb if self.per_sample else 1
        for k, v in res.parts.items():
            p = self.parts.setdefault(k, [0.0, 0])
            p[0], p[1] = p[0] + (v * nb if self.per_sample else v), p[1] + w
        if self.on_host:
            self.loss += res.value * nb if self.per_sample else res.value
        else:
            d = res.loss.detach()
            self.loss += d * nb if self.per_sample else d
        self.n += w

    def loss_mean(self) -> float:
        return (self.loss if self.on_host else self.loss.item()) / max(self.n, 1)

    def values(self) -> dict[str, float]:
        return {k: float(v / n) for k, (v, n) in self.parts.items()}


class _Window:
    """What the next Step event reports: the steps since the last one, the samples they took
    and when they began; and the samples of the whole run."""

    def __init__(self, dev: torch.device, on_host: bool, t0: float):
        self.sums = _Sums(dev, on_host, per_sample=False)
        self.t0, self.samples, self.samples_run = t0, 0, 0
        # seconds the window's steps waited for their batch, and took in all (the wait
        # included; evaluation and the events' consumers not)
        self.wait = self.busy = 0.0

    def data_wait(self) -> float:
        """The share of the window's step time spent waiting for data (0 to 1)."""
        return min(1.0, self.wait / self.busy) if self.busy > 0 else 0.0

    def add(self, res: StepResult, nb: int) -> None:
        self.sums.add(res, nb)
        self.samples += nb
        self.samples_run += nb

    def restart_clock(self, now: float) -> None:  # after a pause: the rate from `now` on
        self.t0, self.samples, self.wait, self.busy = now, 0, 0.0, 0.0

    def restart(self, now: float) -> None:  # after a Step event: a new window
        self.sums.reset()
        self.restart_clock(now)


class EpochLoop:
    """The loop over epochs and steps; mixed into the Trainer."""

    def _train(self, run: _Run) -> Iterator[Event]:
        """The steps from the run's position to its end, epoch by epoch; then Finished."""
        s, pos = self.settings, self.pos
        t_start = time.perf_counter()
        window = _Window(self.device, run.on_host, t_start)
        done = pos.step >= self.total_steps
        try:
            while pos.epoch <= s.epochs and not done:
                outcome = yield from self._epoch(run, window)
                if outcome == "stopped":
                    return
                done = outcome == "done"
                if done or pos.next_index < self._n_train:
                    break
                pos.epoch += 1
                self._order = None
            pos.epoch = min(pos.epoch, s.epochs)
            final = run.evaluator.evaluate(_split(run, "train"))
            final.update(run.evaluator.validated(_split(run, "val")))
        finally:
            if run.stream is not None:
                run.stream.close()
        final.update(self.recipe.epoch_metrics())
        seconds = time.perf_counter() - t_start
        yield Finished(pos.step, pos.epoch, seconds, final.get("loss", math.nan), final,
                       window.samples_run / max(seconds, 1e-9), str(self.device))

    def _epoch(self, run: _Run, window: _Window) -> Iterator[Event]:
        """The steps of the epoch in progress, from the run's position, then its EpochEnd.
        Returns 'stopped' (by the user), 'done' (the run's last step was taken) or None."""
        c, recipe, pos, dev = self.compiled, self.recipe, self.pos, self.device
        n_train, batch_size, ev = self._n_train, run.batch_size, run.evaluator
        t_epoch = time.perf_counter()
        c.objective.train()
        if self._order is None or pos.next_index >= n_train:
            self._order = torch.randperm(n_train, generator=self._shuffle)
            pos.next_index = 0
        order = self._order.to(dev)
        first = i = pos.next_index
        # Several processes: this one's share of the order, `local` of a step's positions
        # (one process: the order itself, and the whole batch)
        w = D.world()
        mine, local = D.share(order), -(-batch_size // w)
        sums = _Sums(dev, run.on_host, per_sample=True)
        records = ev.new_records()
        done = False
        loader = (run.stream.epoch(D.share(self._order), i // w, local)
                  if run.stream is not None else None)
        kept = {k: [] for k in ev.loss_target.values()}  # streamed: the targets seen
        while i < n_train:
            if (yield from self._hold(window)):
                return "stopped"
            t_wait = time.perf_counter()
            if loader is not None:
                batch = next(loader)  # the wait for data: what the data-wait figure shows
                for k, v in kept.items():
                    v.append(batch[k])
            else:
                idx = mine[i // w:i // w + local]
                batch = [t[idx] for t in run.train]
            window.wait += time.perf_counter() - t_wait
            if run.augment is not None:  # the training batch only, never validation's
                batch = run.augment(batch)
            nb = min(batch_size, n_train - i)
            nl = nb if w == 1 else min(local, len(mine) - i // w)  # this process's samples
            log_now = self._is_log_step(self.total_steps, i + batch_size >= n_train)
            # on the CPU reading the loss is free: it is checked at each step
            res = recipe.step(batch, log_now, run.on_host)
            window.busy += time.perf_counter() - t_wait
            window.add(res, nb)
            sums.add(res, nl)
            pos.step += 1
            i += batch_size
            pos.next_index = min(i, n_train)
            pos.samples_total += nb
            ev.record(records, res.out)
            last = pos.step >= self.total_steps
            if log_now:
                yield from self._log(window, batch, res)
            yield from recipe.events(pos.step, last)
            for watcher in self._watchers:  # the inside of the network, throttled by time
                yield from watcher.after_step(pos.step, pos.epoch, last)
            if last:
                done = True
                break
        mets = {"loss": sums.loss_mean(), **sums.values()}
        seen = mine[first // w:first // w + sums.n]  # the samples this epoch went through
        if loader is not None:  # the targets as the batches brought them, in that order
            seen = torch.arange(sums.n, device=dev)
            tensors = [torch.cat(kept[k]) if k in kept else None for k in range(len(run.needed))]
        mets.update(ev.trained(records, tensors if loader is not None else run.train, seen))
        mets = D.reduce_means(mets, sums.n)  # several processes: the global figures
        mets.update(ev.validated(_split(run, "val")))
        mets.update(recipe.epoch_metrics())
        yield EpochEnd(pos.epoch, pos.step, mets, time.perf_counter() - t_epoch)
        for watcher in self._watchers:
            yield from watcher.epoch_end(pos.step, pos.epoch)
        return "done" if done else None

    def _hold(self, window: _Window) -> Iterator[Event]:
        """Before a step: wait while paused (Paused, then Resumed); True, after Stopped, when
        the run is to stop."""
        pos = self.pos
        D.agree_stop(self._stop)  # several processes: a stop heard by one stops all
        if self._pause.is_set() and not self._stop.is_set():
            yield Paused(pos.step, pos.epoch)
            while self._pause.is_set() and not self._stop.is_set():
                self._pause_wait()
            window.restart_clock(time.perf_counter())
            yield Resumed(pos.step, pos.epoch)
        if self._stop.is_set():
            yield Stopped(pos.step, pos.epoch)
            return True
        return False

    def _log(self, window: _Window, batch, res: StepResult) -> Iterator[Event]:
        """At a log step: the mean loss of the window (a sync on a GPU), checked; Step, and
        GradStats when the recipe measured the gradients."""
        pos = self.pos
        mean = window.sums.loss_mean()  # the sync point
        if not math.isfinite(mean):
            raise self._ctx.non_finite(self.compiled, batch, res.loss, self._ctx.by_layer)
        now = time.perf_counter()
        rate = window.samples / max(now - window.t0, 1e-9)
        yield Step(pos.step, pos.epoch, mean, self.recipe.lr, rate, window.sums.values(),
                   round(window.data_wait(), 4))
        if res.norms is not None:
            yield GradStats(pos.step, res.norms, res.time_norms)
        window.restart(now)

    def _pause_wait(self) -> None:
        time.sleep(0.02)  # paused: the stop flag is checked again within 20 ms

    def _is_log_step(self, total: int, epoch_end: bool) -> bool:
        """Whether the step about to be taken reports its loss (and gradient norms)."""
        step = self.pos.step + 1
        return step % self.log_every == 0 or step >= total or epoch_end

    def _prepare_stream(self, c, dataset, needed: list[str], split) -> _Run:
        """The run's data when the dataset streams (runtime/loader.py): bound and checked on
        its small fields and a few samples, split as in memory, read through DataLoaders;
        standardizers (and the augmentation's checks) see a sample of the training split."""
        from .devices import use_channels_last
        val_idx, train_idx = split
        self.dataset = dataset
        self._n_train = len(train_idx)
        data, dev = self.project.data, self.device
        plan = bind_stream(c, data.bind, dataset, needed)
        modules = c.modules.to(dev)
        c.model.to(dev)
        c.objective.to(dev)
        channels_last = use_channels_last(c, dev)
        if channels_last:
            modules.to(memory_format=torch.channels_last)
        stream = Stream(dataset, plan, train_idx, val_idx, self.settings.batch_size,
                        data.workers, dev, data.cache, channels_last)
        fit = [n for n in c.standardizers if n not in getattr(self, "_fitted_from_file", ())]
        augmented = data.augment != type(data.augment)()
        sample = stream.fit_sample(FIT_SAMPLES if fit or augmented else 8)
        for node in fit:
            c.modules.get_submodule(c.standardizers[node]).to(dev).fit(
                sample[needed.index(node)])
        run = _Run(needed, sample, [t[:0] for t in sample], len(val_idx))
        run.stream = stream
        return run


def _split(run: _Run, which: str):
    """A split for the evaluator: its tensors, or (streamed) its batches."""
    if run.stream is None:
        return run.train if which == "train" else run.val
    return run.stream.split(which)
