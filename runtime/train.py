"""The Trainer: one training loop for the CLI and the GUI, as a stream of events.
(Its epoch loop, with the sums a log window and an epoch report, is runtime/train_loop.py.)

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
import traceback
from pathlib import Path
from typing import Iterator

import torch
import torch.fx as fx

from graph.project import Project
from graph.settings import TrainingSettings

from . import epoch_metrics as EM
from . import seeds
from .binding import bind_data
from .augment import make_augmenter
from .compile import CompileError, Compiled, compile_graph, standardizable
from .data import DataError, load_dataset
from .data.stream import is_streamed
from . import checkpoint as ckpt
from . import distributed as D
from .checkpoint import Position
from .devices import (available_devices, check_precision, device_name, pick_device,  # noqa: F401
                      to_channels_last, use_channels_last)
from .errors import TrainingError, first_line
from .evaluation import Evaluator
from .events import Event, Failed, Preparing, Started, Stopped
from .optim import eager_step, load_optimizer_state, spare_dynamo_import  # noqa: F401
from .recipes import RECIPES, RecipeContext
from .start_weights import load_start, node_of, project_start, weights_path
from .train_loop import EpochLoop, _Run
from .torch_compile import compile_recipe
from .watch import WATCHERS, make_watchers
from .weights import WeightsError

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


class Trainer(EpochLoop):
    def __init__(self, project: Project, *, base_dir: str | Path | None = None,
                 device: str | None = None, epochs: int | None = None,
                 max_steps: int | None = None, log_every: int = 10,
                 sync_every_step: bool | None = None, resume_from: str | Path | None = None,
                 stop_event=None, pause_event=None,
                 initial_weights: str | Path | None = None, watch=WATCHERS):
        """`stop_event` / `pause_event`: objects with is_set() / wait() (threading.Event, or
        multiprocessing.Event when the run lives in another process). `initial_weights`: the
        weights to start from (a .safetensors file, a checkpoint or a run folder), instead of
        the project's training.initial_weights (runtime/start_weights.py). `watch`: the
        watchers (runtime/watch.py) that may send what happens inside the network."""
        self.project = project
        overrides = {k: v for k, v in (("device", device), ("epochs", epochs)) if v is not None}
        self.settings: TrainingSettings = project.training.model_copy(update=overrides)
        self.base_dir = base_dir
        self.max_steps = max_steps
        self.log_every = max(1, log_every)
        # None: read the loss every step on the CPU (free there), only at log steps elsewhere.
        self.sync_every_step = sync_every_step
        self.resume_from = resume_from
        self.initial_weights = initial_weights
        self.started_from: Path | None = None  # the starting weights' file, once loaded
        self._fitted_from_file: set[str] = set()  # standardizers the file's values fill
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
        self.watch, self._watchers = tuple(watch or ()), []

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
        if self.resume_from is None:  # a resumed run: its checkpoint wins
            self._start_from(c)
        self.device = dev = pick_device(s.device)
        check_precision(s.precision, dev)
        dataset = yield from self._load_dataset()
        if dataset is None:  # stopped while the data was prepared: nothing trained, so
            self.compiled = None  # nothing for the caller to save (nor to overwrite with)
            yield Stopped(self.pos.step, self.pos.epoch, "stopped by the user while the "
                                                         "data was being prepared")
            return
        run = self._prepare_data(c, dataset)
        run.augment = make_augmenter(self.project.data.augment, c, run.needed, run.train,
                                     s.seed, self.pos)
        self._schedule(run)
        self.recipe = recipe = self._make_recipe(c, run, dataset)
        self._opt = opt = recipe.optimizer
        self._shuffle = seeds.stream(s.seed, seeds.SHUFFLE)
        if self.resume_from is not None:
            self._restore(ckpt.load(self.resume_from), c.modules, opt)
        run.evaluator = Evaluator(c, s, dev, self._ctx.autocast, recipe, dataset.classes,
                                  run.needed)
        self._watchers = make_watchers(self, run, dataset)
        n_val = run.n_val
        try:  # the best checkpoint's metric, among those this run reports
            self.best_metric = EM.resolve_best(s.best_metric, EM.metric_names(
                c, s, self.project.data.dataset, n_val > 0, dataset.classes))
        except ValueError as e:
            raise TrainingError(str(e)) from None
        notes = []
        if s.compile:  # tried once on a training batch: a failure is said, the run eager
            notes.append(compile_recipe(recipe, [t[:run.batch_size] for t in run.train]))
        yield Started(str(dev), device_name(dev), s.epochs, run.steps_per_epoch,
                      self.total_steps, self._n_train, n_val,
                      sum(p.numel() for p in c.modules.parameters()), [*self._ctx.by_layer],
                      s.recipe, self.log_every, dict(dataset.baselines), dataset.vocab,
                      getattr(recipe, "value_names", list)(), [n for n in notes if n])
        yield from self._train(run)

    def _compile(self) -> Compiled:
        """The project's graph compiled, refused when there is nothing it could train."""
        data = self.project.data
        c = compile_graph(self.project.graph, standardize=data.standardize,
                          normalize=data.augment.normalize)
        if data.augment.normalize is not None and not set(c.standardizers) - set(
                standardizable(c.graph, c.analysis)):
            raise TrainingError("data.augment.normalize: normalisation works per channel on "
                                "images (an Input of C × H × W floats), and this graph has "
                                "none: set it to none.")
        if self.project.data.standardize and not c.standardizers:
            raise TrainingError("data.standardize: standardisation scales feature vectors "
                                "(an Input of N × F floats), and this graph has none: turn it "
                                "off, or reshape the input to features first.")
        if c.objective is None:
            raise TrainingError("Nothing to train: add a loss node (e.g. Categorical "
                                "cross-entropy) wired from the model's output and a Target.")
        return c

    def _start_from(self, c: Compiled) -> None:
        """The starting weights (the override, else the project's), loaded into the freshly
        compiled modules before the data is prepared and the optimizer made."""
        path = self.initial_weights
        if path is None:
            path = project_start(self.project, self.base_dir)
        if path is None:
            return
        try:
            self._fitted_from_file = load_start(c, path)
            self.started_from = weights_path(path)
        except WeightsError as e:
            where = ("training.initial_weights" if self.initial_weights is None
                     else "the starting weights")
            raise TrainingError(f"{where}: {e}", node_of(str(e))) from None

    def _prepare_data(self, c: Compiled, dataset) -> _Run:
        """The dataset bound to the graph's data nodes and split; both splits and the model on
        the device (in channels-last memory where that is faster), the standardizers fitted."""
        s, dev = self.settings, self.device
        # The objective's data placeholders, in its order (a Noise node's batch is drawn)
        needed = [p for p in c.feeds if p not in c.noise_inputs]
        if is_streamed(dataset):  # read through DataLoader workers (runtime/loader.py)
            return self._prepare_stream(c, dataset, needed,
                                        split(len(dataset), s.seed, s.val_split, dataset.name))
        tensors = bind_data(c, self.project.data.bind, dataset, needed)
        self.dataset = dataset
        val_idx, train_idx = split(len(dataset), s.seed, s.val_split, dataset.name)
        train = [tensors[k][train_idx].to(dev) for k in needed]
        val = [tensors[k][val_idx].to(dev) for k in needed]
        self._n_train = len(train_idx)
        for node, name in c.standardizers.items():  # fitted on the training split only
            if node in self._fitted_from_file:  # (unless the starting weights held them)
                continue
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
        if D.active():  # the project's batch is per process: a step takes world × batch
            batch_size = D.global_batch(s.batch_size, {"gd": n_train, "sgd": 1}, s.optimizer,
                                        n_train)
        run.batch_size = self.global_batch = min(batch_size, n_train)  # all processes'
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
        c = D.wrap(c, self.settings.recipe, bool(self.settings.optimizers), self.device)
        return RECIPES[self.settings.recipe](self._ctx, c, trainable, run.needed)

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
