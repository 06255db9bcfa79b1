"""The Trainer: one training loop for the CLI and the GUI, as a stream of events.

    trainer = Trainer(project)
    for event in trainer.run():      # Started, Step, GradStats, EpochEnd, …, Finished
        ...
    trainer.stop()                   # from any thread: ends after the current step

Sync points are deliberate. On a GPU the loss is read back only every `log_every` steps
(reading it is a device sync); metrics stay on the device until the epoch ends. On the CPU
reading the loss costs nothing, so it is checked every step, and a non-finite loss stops the
run before the optimizer applies the bad gradient.
"""
from __future__ import annotations

import math
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
import torch.fx as fx

from graph.project import Project
from graph.settings import TrainingSettings

from . import epoch_metrics as EM
from . import seeds
from .binding import bind_data
from .compile import CompileError, Compiled, compile_graph
from .data import DataError, load_dataset
from . import checkpoint as ckpt
from .checkpoint import Position
from .devices import (available_devices, check_precision, device_name, pick_device,  # noqa: F401
                      to_channels_last, use_channels_last)
from .errors import TrainingError, first_line
from .evaluation import Evaluator
from .events import (EpochEnd, Event, Failed, Finished, GradStats, Paused, Preparing, Resumed,
                     Started, Step, Stopped)
from .optim import eager_step, load_optimizer_state, spare_dynamo_import  # noqa: F401
from .recipes import RECIPES, RecipeContext, StepResult

# Also importable from here, as before they moved: devices.py's, optim.py's, errors.py's names
__all__ = ["Trainer", "TrainingError", "available_devices", "device_name", "eager_step",
           "pick_device", "spare_dynamo_import", "split", "to_channels_last", "use_channels_last"]


def split(n: int, seed: int, val_split: float, name: str = "the dataset"):
    """(validation indices, training indices): the one split every run of a project makes
    (the Try panel shows the same validation samples the run was judged on)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = int(n * val_split)
    if n - n_val < 1:
        raise DataError(f"'{name}' has {n} samples: too few to train on")
    return perm[:n_val], perm[n_val:]


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

    def add(self, res: StepResult, nb: int) -> None:
        self.sums.add(res, nb)
        self.samples += nb
        self.samples_run += nb

    def restart_clock(self, now: float) -> None:  # after a pause: the rate from `now` on
        self.t0, self.samples = now, 0

    def restart(self, now: float) -> None:  # after a Step event: a new window
        self.sums.reset()
        self.restart_clock(now)


class Trainer:
    def __init__(self, project: Project, *, base_dir: str | Path | None = None,
                 device: str | None = None, epochs: int | None = None,
                 max_steps: int | None = None, log_every: int = 10,
                 sync_every_step: bool | None = None, resume_from: str | Path | None = None,
                 stop_event=None, pause_event=None):
        """`stop_event` / `pause_event`: objects with is_set() / wait() (threading.Event, or
        multiprocessing.Event when the run lives in another process)."""
        self.project = project
        overrides = {k: v for k, v in (("device", device), ("epochs", epochs)) if v is not None}
        self.settings: TrainingSettings = project.training.model_copy(update=overrides)
        self.base_dir = base_dir
        self.max_steps = max_steps
        self.log_every = max(1, log_every)
        # None: read the loss every step on the CPU (free there), only at log steps elsewhere.
        self.sync_every_step = sync_every_step
        self.resume_from = resume_from
        self.compiled: Compiled | None = None
        self.device = torch.device("cpu")
        self._stop = stop_event if stop_event is not None else threading.Event()
        self._pause = pause_event if pause_event is not None else threading.Event()
        self.pos = Position(step=0, epoch=1, next_index=0, samples_total=0)
        self._order: torch.Tensor | None = None
        self._shuffle = torch.Generator()
        self._opt = None
        self.recipe = None
        self._ctx: RecipeContext | None = None  # what the recipe sees of the run
        self.dataset = None
        self.total_steps = 0
        self._n_train = 0

    # Control ------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the run to end after the current step (thread-safe)."""
        self._stop.set()

    def pause(self) -> None:
        self._pause.set()

    def resume(self) -> None:
        self._pause.clear()

    @property
    def step(self) -> int:
        return self.pos.step

    @property
    def epoch(self) -> int:
        return self.pos.epoch

    @property
    def model(self) -> fx.GraphModule | None:
        return self.compiled.model if self.compiled else None

    def save_checkpoint(self, folder: str | Path, extra: dict | None = None) -> None:
        """Everything needed to continue this run exactly; call it while the run is suspended
        at an event (between steps)."""
        ckpt.write(folder, self.snapshot(extra))

    def snapshot(self, extra: dict | None = None) -> ckpt.Snapshot:
        """The same, held in memory (to be written later)."""
        pos = Position(**vars(self.pos))
        order = self._order
        if pos.next_index >= self._n_train:  # the epoch is complete: resume with the next
            pos.epoch, pos.next_index, order = pos.epoch + 1, 0, None
        return ckpt.snapshot(self.compiled.modules, self._opt, pos, order, self._shuffle,
                             {"settings": self.settings.model_dump(mode="json"), **(extra or {})})

    def run(self) -> Iterator[Event]:
        """Train, yielding events; never raises for the user's mistakes (it yields Failed)."""
        try:
            yield from self._run()
        except TrainingError as e:
            yield Failed(str(e), self.step, e.node)
        except CompileError as e:
            node = e.issues[0].node if e.issues else None
            yield Failed(f"The graph has problems: {e}", self.step, node)
        except (DataError, ckpt.CheckpointError) as e:
            yield Failed(str(e), self.step)
        except torch.OutOfMemoryError:
            yield Failed(f"Out of memory on {self.device}: lower the batch size "
                         f"(now {self.settings.batch_size}) or the model's size.", self.step)
        except (RuntimeError, ValueError) as e:  # torch's own complaints about the data
            yield Failed(f"Training stopped at step {self.step}: {e}", self.step,
                         getattr(e, "node", None))
        except Exception as e:  # noqa: BLE001 the boundary: any other failure (a bug) is
            # reported as Failed, with the detail for the report, so the window stays alive
            yield Failed(f"Internal error at step {self.step}: {type(e).__name__}: {e}\n"
                         + traceback.format_exc(), self.step)

    # The run: prepared in steps, then the loop -----------------------------------------------
    def _run(self) -> Iterator[Event]:
        s = self.settings
        torch.manual_seed(s.seed)
        self.compiled = c = self._compile()
        self.device = dev = pick_device(s.device)
        check_precision(s.precision, dev)
        dataset = yield from self._load_dataset()
        if dataset is None:  # stopped while the data was prepared: nothing trained, so
            self.compiled = None  # nothing for the caller to save (nor to overwrite with)
            yield Stopped(self.pos.step, self.pos.epoch, "stopped by the user while the "
                                                         "data was being prepared")
            return
        run = self._prepare_data(c, dataset)
        self._schedule(run)
        self.recipe = recipe = self._make_recipe(c, run, dataset)
        self._opt = opt = recipe.optimizer
        self._shuffle = seeds.stream(s.seed, seeds.SHUFFLE)
        if self.resume_from is not None:
            self._restore(ckpt.load(self.resume_from), c.modules, opt)
        run.evaluator = Evaluator(c, s, dev, self._ctx.autocast, recipe, dataset.classes,
                                  run.needed)
        n_val = run.n_val
        try:  # the best checkpoint's metric, among those this run reports
            self.best_metric = EM.resolve_best(s.best_metric, EM.metric_names(
                c, s, self.project.data.dataset, n_val > 0, dataset.classes))
        except ValueError as e:
            raise TrainingError(str(e)) from None
        yield Started(str(dev), device_name(dev), s.epochs, run.steps_per_epoch,
                      self.total_steps, self._n_train, n_val,
                      sum(p.numel() for p in c.modules.parameters()), [*self._ctx.by_layer],
                      s.recipe, self.log_every, dict(dataset.baselines), dataset.vocab,
                      getattr(recipe, "value_names", list)())
        yield from self._train(run)

    def _compile(self) -> Compiled:
        """The project's graph compiled, refused when there is nothing it could train."""
        c = compile_graph(self.project.graph, standardize=self.project.data.standardize)
        if self.project.data.standardize and not c.standardizers:
            raise TrainingError("data.standardize: standardisation scales feature vectors "
                                "(an Input of N × F floats), and this graph has none: turn it "
                                "off, or reshape the input to features first.")
        if c.objective is None:
            raise TrainingError("Nothing to train: add a loss node (e.g. Categorical "
                                "cross-entropy) wired from the model's output and a Target.")
        return c

    def _prepare_data(self, c: Compiled, dataset) -> _Run:
        """The dataset bound to the graph's data nodes and split; both splits and the model on
        the device (in channels-last memory where that is faster), the standardizers fitted."""
        s, dev = self.settings, self.device
        # The objective's data placeholders, in its order (a Noise node's batch is drawn)
        needed = [p for p in c.feeds if p not in c.noise_inputs]
        tensors = bind_data(c, self.project.data.bind, dataset, needed)
        self.dataset = dataset
        val_idx, train_idx = split(len(dataset), s.seed, s.val_split, dataset.name)
        train = [tensors[k][train_idx].to(dev) for k in needed]
        val = [tensors[k][val_idx].to(dev) for k in needed]
        self._n_train = len(train_idx)
        for node, name in c.standardizers.items():  # fitted on the training split only
            c.modules.get_submodule(name).to(dev).fit(train[needed.index(node)])
        modules = c.modules.to(dev)
        c.model.to(dev)
        c.objective.to(dev)
        if use_channels_last(c, dev):
            modules.to(memory_format=torch.channels_last)
            train, val = [to_channels_last(t) for t in train], [to_channels_last(t) for t in val]
        return _Run(needed, train, val, len(val_idx))

    def _schedule(self, run: _Run) -> None:
        """The batch size, the steps an epoch takes and the run's last step; whether the loss
        is read at every step (on the CPU, where reading it is free, unless told)."""
        s, n_train = self.settings, self._n_train
        batch_size = {"gd": n_train, "sgd": 1}.get(s.optimizer, s.batch_size)
        run.batch_size = min(batch_size, n_train)
        run.steps_per_epoch = math.ceil(n_train / run.batch_size)
        total = s.epochs * run.steps_per_epoch
        if self.max_steps is not None:
            total = min(total, self.max_steps)
        self.total_steps = total
        run.on_host = (self.device.type == "cpu" if self.sync_every_step is None
                       else self.sync_every_step)

    def _make_recipe(self, c: Compiled, run: _Run, dataset):
        """The settings' recipe over the graph's trainable weights, with what it sees of the
        run (self._ctx)."""
        modules = c.modules
        trainable = [p for p in modules.parameters() if p.requires_grad]
        first: dict[str, str] = {}
        for n in c.layers:  # a block's shared repetitions run one module: trained, shown once
            first.setdefault(c.graph.module_path(n), n)
        by_layer = {n: [p for p in c.module(n).parameters() if p.requires_grad]
                    for n in first.values()}
        seq_nodes = {n: c.module(n) for n in c.analysis.order
                     if c.graph.spec(n).sequence_input and c.module(n) is not None}
        self._ctx = RecipeContext(self.settings, self.device, self.pos, self.total_steps, by_layer,
                                  seq_nodes, dict(zip(run.needed, run.train)), dataset)
        return RECIPES[self.settings.recipe](self._ctx, c, trainable, run.needed)

    def _train(self, run: _Run) -> Iterator[Event]:
        """The steps from the run's position to its end, epoch by epoch; then Finished."""
        s, pos = self.settings, self.pos
        t_start = time.perf_counter()
        window = _Window(self.device, run.on_host, t_start)
        done = pos.step >= self.total_steps
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
        final = run.evaluator.evaluate(run.train)
        final.update(run.evaluator.validated(run.val))
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
        sums = _Sums(dev, run.on_host, per_sample=True)
        records = ev.new_records()
        done = False
        while i < n_train:
            if (yield from self._hold(window)):
                return "stopped"
            idx = order[i:i + batch_size]
            batch = [t[idx] for t in run.train]
            nb = min(batch_size, n_train - i)
            log_now = self._is_log_step(self.total_steps, i + batch_size >= n_train)
            # on the CPU reading the loss is free: it is checked at each step
            res = recipe.step(batch, log_now, run.on_host)
            window.add(res, nb)
            sums.add(res, nb)
            pos.step += 1
            i += batch_size
            pos.next_index = min(i, n_train)
            pos.samples_total += nb
            ev.record(records, res.out)
            last = pos.step >= self.total_steps
            if log_now:
                yield from self._log(window, batch, res)
            yield from recipe.events(pos.step, last)
            if last:
                done = True
                break
        mets = {"loss": sums.loss_mean(), **sums.values()}
        seen = order[first:first + sums.n]  # the training samples this epoch went through
        mets.update(ev.trained(records, run.train, seen))
        mets.update(ev.validated(run.val))
        mets.update(recipe.epoch_metrics())
        yield EpochEnd(pos.epoch, pos.step, mets, time.perf_counter() - t_epoch)
        return "done" if done else None

    def _hold(self, window: _Window) -> Iterator[Event]:
        """Before a step: wait while paused (Paused, then Resumed); True, after Stopped, when
        the run is to stop."""
        pos = self.pos
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
        yield Step(pos.step, pos.epoch, mean, self.recipe.lr, rate, window.sums.values())
        if res.norms is not None:
            yield GradStats(pos.step, res.norms, res.time_norms)
        window.restart(now)

    def _pause_wait(self) -> None:
        time.sleep(0.02)  # paused: the stop flag is checked again within 20 ms

    def _restore(self, loaded, modules, opt) -> None:
        """Continue a checkpointed run: weights, optimizer, position, random states."""
        try:
            modules.load_state_dict({k: v.to(self.device) for k, v in loaded.model.items()})
        except RuntimeError as e:
            raise ckpt.CheckpointError(f"{self.resume_from}: the checkpoint does not fit this "
                                       f"graph ({first_line(e)})") from None
        where = Path(self.resume_from)
        if loaded.order is not None and len(loaded.order) != self._n_train:
            raise ckpt.CheckpointError(
                f"{where / 'state.safetensors'}: order: the checkpoint's epoch covers "
                f"{len(loaded.order):,} training samples but the data now has "
                f"{self._n_train:,} (was the dataset changed?)")
        if loaded.position.next_index > self._n_train:
            raise ckpt.CheckpointError(
                f"{where / 'trainer.json'}: position.next_index: {loaded.position.next_index:,} "
                f"is past the {self._n_train:,} training samples (was the dataset changed?)")
        if opt is not None and loaded.optimizer_state is not None:
            load_optimizer_state(opt, loaded.optimizer_state, where)
        # In place: the recipe's context holds this same Position
        vars(self.pos).update(vars(loaded.position))
        self._order = loaded.order
        torch.set_rng_state(loaded.torch_rng)
        self._shuffle.set_state(loaded.shuffle_rng)

    # Pieces -------------------------------------------------------------------------------------
    def _load_dataset(self):
        """The project's dataset, loaded in a thread while Preparing events report what a
        long data step (selective search's proposals) has done; its errors are raised here.
        None when the run was stopped meanwhile: the search stops between images, and the
        wait here is never longer than 0.1 s at a time, so a stop is heard at once even when
        the loader is stuck (it is a daemon thread, left behind)."""
        import queue

        from .detection.datasets import report_progress
        from .detection.proposals import SearchStopped
        data, seed = self.project.data, self.settings.seed
        box: dict = {}
        q: queue.SimpleQueue = queue.SimpleQueue()

        def work():
            report_progress(lambda done, total: q.put((done, total)), stop=self._stop.is_set,
                            notice=lambda text: q.put(text))
            try:
                box["dataset"] = load_dataset(data.dataset, data.options, seed, self.base_dir)
            except BaseException as e:  # noqa: BLE001: raised in the trainer's thread
                box["error"] = e
            finally:
                report_progress(None)
                q.put(None)

        thread = threading.Thread(target=work, name="load-dataset", daemon=True)
        thread.start()
        note = ""
        while True:
            if self._stop.is_set():
                thread.join(1.0)  # the search ends after the images under way
                if "dataset" not in box:
                    return None
            try:
                item = q.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is None:
                break
            if isinstance(item, str):  # the cache was damaged: said with the progress
                note = item
                continue
            yield Preparing("region proposals (selective search)", *item, note=note)
        thread.join()
        if isinstance(box.get("error"), SearchStopped):
            return None
        if "error" in box:
            raise box["error"]
        return box["dataset"]

    def _is_log_step(self, total: int, epoch_end: bool) -> bool:
        """Whether the step about to be taken reports its loss (and gradient norms)."""
        step = self.pos.step + 1
        return step % self.log_every == 0 or step >= total or epoch_end
