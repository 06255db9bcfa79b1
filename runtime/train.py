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

import contextlib
import math
import platform
import threading
import time
import traceback
from pathlib import Path
from typing import Iterator

import torch
import torch.fx as fx

from graph.catalogue.losses import class_dim
from graph.project import Project
from graph.settings import TrainingSettings

from . import metrics as M
from .binding import bind_data
from .compile import CompileError, Compiled, compile_graph
from .data import DataError, load_dataset
from . import checkpoint as ckpt
from .checkpoint import Position
from .events import (EpochEnd, Event, Failed, Finished, GradStats, Paused, Preparing, Resumed,
                     Started, Step, Stopped)
from .recipes import RECIPES


def split(n: int, seed: int, val_split: float, name: str = "the dataset"):
    """(validation indices, training indices): the one split every run of a project makes
    (the Try panel shows the same validation samples the run was judged on)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = int(n * val_split)
    if n - n_val < 1:
        raise DataError(f"'{name}' has {n} samples: too few to train on")
    return perm[:n_val], perm[n_val:]


def spare_dynamo_import() -> None:
    """torch.optim wraps Optimizer.add_param_group, zero_grad, state_dict and
    load_state_dict in torch._disable_dynamo, which imports torch._dynamo (sympy, the FSDP
    modules, …) on the first call, to keep torch.compile out of them: the first optimizer
    cost 1.4 s here, a third of `layerloom train`'s start-up (BENCHMARKS.md). Nothing here
    runs them under torch.compile, so each is marked as already wrapped (the attribute the
    wrapper caches its wrapped function in, set to the function itself). Only while
    torch._dynamo is not loaded, and only for wrappers of that exact shape: with another
    torch, nothing changes but the import cost."""
    import sys
    if "torch._dynamo" in sys.modules:
        return
    for cls in (torch.optim.Optimizer, torch.optim.Adam, torch.optim.SGD):
        for f in vars(cls).values():
            fn = getattr(f, "__wrapped__", None)
            code = getattr(f, "__code__", None)
            if fn is not None and code is not None and code.co_filename.endswith("_compile.py") \
                    and code.co_name == "inner" and not hasattr(fn, "__dynamo_disable"):
                fn.__dynamo_disable = fn


spare_dynamo_import()


def eager_step(opt: torch.optim.Optimizer):
    """`opt.step` without the two wrappers torch.optim puts around it: one that imports
    torch._dynamo on every call (the first import: 1.4 s) to mark a graph break for
    torch.compile, and one that runs step hooks inside a profiler range. With no hooks
    registered and `differentiable` off, what is left is exactly what they run: the
    optimizer's own update under no_grad (a test checks the weights are bit-identical).
    Anything else (hooks, a differentiable optimizer, another torch's layout) gets the
    usual opt.step."""
    import inspect
    from torch.optim import optimizer as _o
    step = type(opt).step
    raw = inspect.unwrap(step)
    hooks = (opt._optimizer_step_pre_hooks, opt._optimizer_step_post_hooks,
             getattr(_o, "_global_optimizer_pre_hooks", {None: None}),
             getattr(_o, "_global_optimizer_post_hooks", {None: None}))
    if raw is step or raw.__name__ != "step" or any(hooks) or opt.defaults.get("differentiable"):
        return opt.step

    def run() -> None:
        with torch.no_grad():
            raw(opt)
        opt._opt_called = True  # what the hook wrapper records (for LR schedulers)
    return run


class TrainingError(Exception):
    def __init__(self, message: str, node: str | None = None):
        super().__init__(message)
        self.node = node


def _ignored(c: Compiled, loss: str) -> int | None:
    """The class index a loss node leaves out (its ignore_index: padding), if it has one."""
    return c.graph.spec(loss).resolved(c.graph.params(loss)).get("ignore_index")


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


# Image layers whose CPU kernels are faster in channels-last memory (NHWC), and every type
# measured to give the same results there (tests/runtime/test_train.py). Max pooling an 8x8
# map in NCHW took 7x as long; the CNN template trains 1.25x faster on one thread, 1.17x on
# two, and as fast on one thread as on two (BENCHMARKS.md). Any other type keeps NCHW.
CHANNELS_LAST_GAINS = {"Conv2d", "MaxPool2d", "AvgPool2d"}
CHANNELS_LAST_SAFE = CHANNELS_LAST_GAINS | {
    "Input", "Target", "Output", "Linear", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "Softmax",
    "BatchNorm2d", "Flatten", "Add", "Concat", "MSELoss", "BCELoss",
    "CategoricalCrossEntropyLoss", "HingeLoss", "HuberLoss", "SmoothL1Loss"}


def use_channels_last(c: Compiled, dev: torch.device) -> bool:
    """Whether to train in channels-last memory: on the CPU, for a graph of image layers whose
    every node type is known to be fine with it. Only the memory layout changes: values,
    shapes and the saved weights (made contiguous) are the same. Dropout counts as fine on
    flat features only: on an image its random mask would follow the memory order, a
    different (equally random) draw from the one the same seed gives in NCHW."""
    if dev.type != "cpu":
        return False
    types = set()
    for n in c.graph.nodes():
        t = c.graph.node_type(n)
        if t == "Dropout":
            out = c.analysis.out_type(n, c.graph.spec(n).outputs[0].name)
            if out is not None and len(out.shape) <= 2:
                continue
        types.add(t)
    return bool(types & CHANNELS_LAST_GAINS) and types <= CHANNELS_LAST_SAFE


def to_channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t


def device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    if dev.type == "mps":
        return "Apple GPU (MPS)"
    n = torch.get_num_threads()
    return f"CPU ({platform.machine()}, {n} thread{'s' if n != 1 else ''})"


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
        except Exception as e:  # a bug: keep the window alive, keep the detail for the report
            yield Failed(f"Internal error at step {self.step}: {type(e).__name__}: {e}\n"
                         + traceback.format_exc(), self.step)

    # The loop -----------------------------------------------------------------------------------
    def _run(self) -> Iterator[Event]:
        s = self.settings
        torch.manual_seed(s.seed)
        self.compiled = c = compile_graph(self.project.graph,
                                          standardize=self.project.data.standardize)
        if self.project.data.standardize and not c.standardizers:
            raise TrainingError("data.standardize: standardisation scales feature vectors "
                                "(an Input of N × F floats), and this graph has none: turn it "
                                "off, or reshape the input to features first.")
        if c.objective is None:
            raise TrainingError("Nothing to train: add a loss node (e.g. Categorical "
                                "cross-entropy) wired from the model's output and a Target.")
        self.device = dev = pick_device(s.device)
        if s.precision == "bf16" and dev.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise TrainingError(f"precision bf16: {device_name(dev)} has no bfloat16 support; "
                                "choose fp32")
        if s.precision == "bf16" and dev.type not in ("cuda", "cpu"):
            raise TrainingError(f"precision bf16 runs on a CUDA GPU or the CPU, not on "
                                f"{dev.type}; choose fp32")
        data = self.project.data
        dataset = yield from self._load_dataset()
        # The objective's data placeholders, in its order (a Noise node's batch is drawn)
        needed = [p for p in c.feeds if c.graph.spec(p).role != "noise"]
        tensors = bind_data(c, data.bind, dataset, needed)
        self.dataset = dataset

        val_idx, train_idx = split(len(dataset), s.seed, s.val_split, dataset.name)
        n_val = len(val_idx)
        train = [tensors[k][train_idx].to(dev) for k in needed]
        val = [tensors[k][val_idx].to(dev) for k in needed]
        self._n_train = n_train = len(train_idx)
        for node, name in c.standardizers.items():  # fitted on the training split only
            c.modules.get_submodule(name).to(dev).fit(train[needed.index(node)])

        modules = c.modules.to(dev)
        c.model.to(dev)
        c.objective.to(dev)
        if use_channels_last(c, dev):
            modules.to(memory_format=torch.channels_last)
            train, val = [to_channels_last(t) for t in train], [to_channels_last(t) for t in val]
        trainable = [p for p in modules.parameters() if p.requires_grad]
        layers = c.layers
        self.by_layer = by_layer = {n: [p for p in modules.get_submodule(n).parameters()
                                        if p.requires_grad] for n in layers}
        self.seq_nodes = {n: c.modules.get_submodule(n) for n in c.analysis.order
                          if c.graph.spec(n).sequence_input and n in c.modules._modules}
        self.norms, self.time_norms = None, {}
        self.train_data = dict(zip(needed, train))  # by node (no copies), for the recipe
        self.recipe = recipe = RECIPES[s.recipe](self, c, trainable, needed)

        batch_size = {"gd": n_train, "sgd": 1}.get(s.optimizer, s.batch_size)
        batch_size = min(batch_size, n_train)
        steps_per_epoch = math.ceil(n_train / batch_size)
        total = s.epochs * steps_per_epoch
        if self.max_steps is not None:
            total = min(total, self.max_steps)
        self.total_steps = total
        self._opt = opt = recipe.optimizer
        self._shuffle = torch.Generator().manual_seed(s.seed + 1)
        if self.resume_from is not None:
            self._restore(ckpt.load(self.resume_from), modules, opt)

        kinds = self._metric_kinds(c)
        loss_target = {l: needed.index(self._target_of(c, l)) for l in kinds}
        yield Started(str(dev), device_name(dev), s.epochs, steps_per_epoch, total, n_train,
                      n_val, sum(p.numel() for p in modules.parameters()), layers, s.recipe,
                      self.log_every, dict(dataset.baselines), dataset.vocab,
                      getattr(recipe, "value_names", list)())

        check_every_step = (dev.type == "cpu" if self.sync_every_step is None
                            else self.sync_every_step)
        t_start = time.perf_counter()
        t_log, samples_log = t_start, 0
        samples_run = 0
        window_loss = torch.zeros((), device=dev)
        window_loss_f = 0.0
        window_steps = 0
        window_parts: dict[str, list] = {}  # name -> [sum, steps]
        pos = self.pos
        done = pos.step >= total
        while pos.epoch <= s.epochs and not done:
            t_epoch = time.perf_counter()
            c.objective.train()
            if self._order is None or pos.next_index >= n_train:
                self._order = torch.randperm(n_train, generator=self._shuffle)
                pos.next_index = 0
            order = self._order.to(dev)
            first = pos.next_index
            run_loss = torch.zeros((), device=dev)
            run_loss_f = 0.0
            run_n = 0
            run_parts: dict[str, list] = {}  # name -> [Σ value × samples, samples]
            records: dict[str, list] = {l: [] for l in kinds}
            i = first
            while i < n_train:
                if self._pause.is_set() and not self._stop.is_set():
                    yield Paused(pos.step, pos.epoch)
                    while self._pause.is_set() and not self._stop.is_set():
                        self._pause_wait()
                    t_log, samples_log = time.perf_counter(), 0
                    yield Resumed(pos.step, pos.epoch)
                if self._stop.is_set():
                    yield Stopped(pos.step, pos.epoch)
                    return
                idx = order[i:i + batch_size]
                batch = [t[idx] for t in train]
                nb = min(batch_size, n_train - i)
                log_now = self._is_log_step(total, i + batch_size >= n_train)
                # on the CPU reading the loss is free: it is checked at each step
                res = recipe.step(batch, log_now, check_every_step)
                loss, lv, out = res.loss, res.value, res.out
                for k, v in res.parts.items():
                    w = window_parts.setdefault(k, [0.0, 0])
                    w[0], w[1] = w[0] + v, w[1] + 1
                    r = run_parts.setdefault(k, [0.0, 0])
                    r[0], r[1] = r[0] + v * nb, r[1] + nb
                pos.step += 1
                i += batch_size
                pos.next_index = min(i, n_train)
                pos.samples_total += nb
                if check_every_step:  # plain floats: no tensor ops per step
                    window_loss_f += lv
                    run_loss_f += lv * nb
                else:  # on a GPU: accumulate there, read back at the log steps only
                    d = loss.detach()
                    window_loss += d
                    run_loss += d * nb
                window_steps += 1
                run_n += nb
                samples_log += nb
                samples_run += nb
                for l, kind in kinds.items():
                    records[l].append(M.record(kind, out["preds"][l]))
                last = pos.step >= total
                if log_now:
                    mean = (window_loss_f if check_every_step
                            else window_loss.item()) / window_steps  # the sync point
                    if not math.isfinite(mean):
                        raise self._non_finite(c, batch, loss, by_layer)
                    now = time.perf_counter()
                    rate = samples_log / max(now - t_log, 1e-9)
                    values = {k: float(v / n) for k, (v, n) in window_parts.items()}
                    window_parts = {}
                    yield Step(pos.step, pos.epoch, mean, recipe.lr, rate, values)
                    if self.norms is not None:
                        yield GradStats(pos.step, self.norms, self.time_norms)
                        self.norms, self.time_norms = None, {}
                    window_loss.zero_()
                    window_loss_f = 0.0
                    window_steps, t_log, samples_log = 0, now, 0
                yield from recipe.events(pos.step, last)
                if last:
                    done = True
                    break
            mets = {"loss": (run_loss_f if check_every_step else run_loss.item()) / max(run_n, 1)}
            mets.update({k: float(v / n) for k, (v, n) in run_parts.items()})
            seen = order[first:first + run_n]  # the training samples this epoch went through
            mets.update(self._named(c, {l: M.finish(kinds[l], records[l],
                                                    train[loss_target[l]][seen], _ignored(c, l))
                                        for l in kinds}, kinds))
            if val[0].shape[0]:
                mets.update({f"val_{k}": v for k, v in self._evaluate(
                    c, val, kinds, loss_target, needed).items()})
            mets.update(recipe.epoch_metrics())
            yield EpochEnd(pos.epoch, pos.step, mets, time.perf_counter() - t_epoch)
            if done or pos.next_index < n_train:
                break
            pos.epoch += 1
            self._order = None
        pos.epoch = min(pos.epoch, s.epochs)
        final = self._evaluate(c, train, kinds, loss_target)
        if val[0].shape[0]:
            final.update({f"val_{k}": v for k, v in self._evaluate(
                c, val, kinds, loss_target, needed).items()})
        final.update(recipe.epoch_metrics())
        seconds = time.perf_counter() - t_start
        yield Finished(pos.step, pos.epoch, seconds, final.get("loss", math.nan), final,
                       samples_run / max(seconds, 1e-9), str(dev))

    def _autocast(self):
        """bf16 autocast around a forward pass when the settings ask for it (float32
        weights, optimizer and losses); else nothing."""
        if self.settings.precision != "bf16":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    @staticmethod
    def _watch_steps(modules: dict) -> "_StepGradients":
        return _StepGradients(modules)

    def _pause_wait(self) -> None:
        time.sleep(0.02)  # paused: the stop flag is checked again within 20 ms

    def _restore(self, loaded, modules, opt) -> None:
        """Continue a checkpointed run: weights, optimizer, position, random states."""
        try:
            modules.load_state_dict({k: v.to(self.device) for k, v in loaded.model.items()})
        except RuntimeError as e:
            raise ckpt.CheckpointError(f"{self.resume_from}: the checkpoint does not fit this "
                                       f"graph ({str(e).splitlines()[0]})") from None
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
            self._restore_optimizer(opt, loaded.optimizer_state, where)
        self.pos = Position(**vars(loaded.position))
        self._order = loaded.order
        torch.set_rng_state(loaded.torch_rng)
        self._shuffle.set_state(loaded.shuffle_rng)

    @staticmethod
    def _restore_optimizer(opt, state: dict, where: Path) -> None:
        """Load the optimizer's state, checking each tensor against its parameter first
        (torch would take a wrong shape and fail at the first step)."""
        check = getattr(opt, "check_state", None)  # several optimizers: the same records?
        if check is not None:
            try:
                check(state)
            except ValueError as e:
                raise ckpt.CheckpointError(f"{where / 'trainer.json'}: optimizer: {e}") from None
        params = [p for g in opt.param_groups for p in g["params"]]
        for pid, st in state.get("state", {}).items():
            if not 0 <= pid < len(params):
                raise ckpt.CheckpointError(f"{where / 'optimizer.safetensors'}: state of "
                                           f"parameter {pid}, which this graph lacks")
            for name, v in st.items():
                if isinstance(v, torch.Tensor) and v.dim() > 0 and \
                        tuple(v.shape) != tuple(params[pid].shape):
                    raise ckpt.CheckpointError(
                        f"{where / 'optimizer.safetensors'}: '{pid}.{name}' has shape "
                        f"{tuple(v.shape)}, its parameter {tuple(params[pid].shape)}")
        try:
            opt.load_state_dict(state)
        except (ValueError, KeyError, TypeError, RuntimeError) as e:
            raise ckpt.CheckpointError(f"{where / 'optimizer.safetensors'}: does not fit this "
                                       f"graph's optimizer ({str(e).splitlines()[0]})") from None

    # Pieces -------------------------------------------------------------------------------------
    def _load_dataset(self):
        """The project's dataset, loaded in a thread while Preparing events report what a
        long data step (selective search's proposals) has done; its errors are raised here."""
        import queue
        import threading

        from .detection.datasets import report_progress
        data, seed = self.project.data, self.settings.seed
        box: dict = {}
        q: queue.SimpleQueue = queue.SimpleQueue()

        def work():
            report_progress(lambda done, total: q.put((done, total)))
            try:
                box["dataset"] = load_dataset(data.dataset, data.options, seed, self.base_dir)
            except BaseException as e:  # noqa: BLE001: raised in the trainer's thread
                box["error"] = e
            finally:
                report_progress(None)
                q.put(None)

        thread = threading.Thread(target=work, name="load-dataset", daemon=True)
        thread.start()
        while (item := q.get()) is not None:
            yield Preparing("region proposals (selective search)", *item)
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["dataset"]

    def _is_log_step(self, total: int, epoch_end: bool) -> bool:
        """Whether the step about to be taken reports its loss (and gradient norms)."""
        step = self.pos.step + 1
        return step % self.log_every == 0 or step >= total or epoch_end

    @staticmethod
    def _target_of(c: Compiled, loss: str) -> str | None:
        """The Target a loss node compares with (None: none, or not straight from one)."""
        port = next((p.name for p in c.graph.spec(loss).inputs if p.role == "target"), None)
        if port is None:  # a GAN's losses judge scores, not against a target
            return None
        src = c.graph.in_edges(loss, port)[0].src
        return src if c.graph.spec(src).role == "target" else None

    def _metric_kinds(self, c: Compiled) -> dict[str, str]:
        """The metric of each loss node whose target comes straight from a Target."""
        out = {}
        for l in c.losses:
            if self._target_of(c, l) is None:
                continue
            spec = c.graph.spec(l)
            pred = c.analysis.edge_type(c.graph.in_edges(l, spec.in_role("pred"))[0])
            target = c.analysis.edge_type(c.graph.in_edges(l, spec.in_role("target"))[0])
            params = spec.resolved(c.graph.params(l))
            axis = class_dim(pred, target, params["classes"]) if "classes" in params else 1
            feats = pred.shape[axis] if len(pred.shape) > 1 else 1
            kind = M.metric_kind(c.graph, l, feats if isinstance(feats, int) else None)
            if kind == "accuracy/argmax" and axis == -1:
                kind = "accuracy/argmax_last"
            if kind:
                out[l] = kind
        return out

    @staticmethod
    def _named(c: Compiled, values: dict[str, float], kinds: dict[str, str]) -> dict[str, float]:
        """{'accuracy': …} for a single loss; {'<loss>.accuracy': …} when there are several."""
        single = len(c.losses) == 1
        return {(M.metric_name(kinds[l]) if single else f"{l}.{M.metric_name(kinds[l])}"): v
                for l, v in values.items()}

    def _evaluate(self, c: Compiled, tensors, kinds, loss_target,
                  decode: list[str] | None = None) -> dict[str, float]:
        """The loss and metrics over `tensors`; with `decode` (the names of the tensors, so
        that the model's inputs can be found), also the exact match of each decoder's greedy
        decoding (the inference graph) against its target."""
        res = self._evaluate_objective(c, tensors, kinds, loss_target)
        if decode is not None and c.steps:
            res.update(self._decoded(c, tensors, decode))
        if decode is not None:  # a detector's mAP, from its inference model's detections
            from .detection.metrics import detection_metrics
            res.update(detection_metrics(c, tensors, decode, max(self.settings.batch_size, 64),
                                         self.dataset.classes, self._autocast))
        return res

    def _decoded(self, c: Compiled, tensors, names: list[str]) -> dict[str, float]:
        model = c.model
        was_training = model.training
        model.eval()
        n = tensors[0].shape[0]
        bs = max(self.settings.batch_size, 256)
        out: dict[str, float] = {}
        for g in c.steps:
            o = next((e.dst for e in c.graph.out_edges(g) if e.dst in c.outputs), None)
            if o is None:  # its tokens reach no Output: nothing the model gives to score
                continue
            fb = c.analysis.phases.feedback[g]
            edges = c.graph.in_edges(fb)
            if not edges or edges[0].src not in names:
                continue
            truth = tensors[names.index(edges[0].src)]
            params = c.graph.spec(g).resolved(c.graph.params(g))
            hits = 0.0
            with torch.no_grad():
                for i in range(0, n, bs):
                    with self._autocast():
                        res = model(*[tensors[names.index(k)][i:i + bs] for k in c.inputs])
                    got = res[c.outputs.index(o)] if len(c.outputs) > 1 else res
                    nb = got.shape[0]
                    hits += M.exact_match(got, truth[i:i + bs], params["end_token"],
                                          params["pad_token"]) * nb
            out["exact_match" if len(c.steps) == 1 else f"{g}.exact_match"] = hits / max(n, 1)
        model.train(was_training)
        return out

    def _evaluate_objective(self, c: Compiled, tensors, kinds, loss_target) -> dict[str, float]:
        obj = c.objective
        was_training = obj.training
        obj.eval()
        n = tensors[0].shape[0]
        bs = max(self.settings.batch_size, 256)
        total = torch.zeros((), device=self.device)
        per_loss = {l: torch.zeros((), device=self.device) for l in c.losses}
        records: dict[str, list] = {l: [] for l in kinds}
        noise = self.recipe.noise
        # Noise of its own generator: the same every evaluation, and the run's untouched
        gen = torch.Generator().manual_seed(self.settings.seed + 2) if noise else None
        with torch.no_grad():
            for i in range(0, n, bs):
                batch = [t[i:i + bs] for t in tensors]
                nb = batch[0].shape[0]
                with self._autocast():
                    out = obj(*(self.recipe.args(c.feeds, batch, gen) if noise else batch))
                total += out["loss"] * nb
                for l in c.losses:
                    per_loss[l] += out["losses"][l] * nb
                for l, kind in kinds.items():
                    records[l].append(M.record(kind, out["preds"][l]))
        obj.train(was_training)
        res = {"loss": total.item() / max(n, 1)}
        if len(c.losses) > 1:
            res.update({f"{l}.loss": v.item() / max(n, 1) for l, v in per_loss.items()})
        res.update(self._named(c, {l: M.finish(kinds[l], records[l], tensors[loss_target[l]],
                                               _ignored(c, l))
                                   for l in kinds}, kinds))
        return res

    @staticmethod
    def _grad_norms(by_layer: dict[str, list[torch.Tensor]]) -> dict[str, float]:
        names, grads = [], []
        for n, ps in by_layer.items():
            for p in ps:
                if p.grad is not None:
                    names.append(n)
                    grads.append(p.grad)
        if not grads:
            return {}
        norms = torch.stack(torch._foreach_norm(grads)).double().pow(2).tolist()
        out: dict[str, float] = {}
        for n, sq in zip(names, norms):
            out[n] = out.get(n, 0.0) + sq
        return {n: math.sqrt(v) for n, v in out.items()}

    def _non_finite(self, c: Compiled, batch, loss, by_layer, objective=None) -> TrainingError:
        """Name the first layer (in forward order) whose gradient is not finite, and the first
        node whose forward output is not, so the user knows where to look (`batch`: what
        `objective`, by default the whole one, was called with)."""
        value = loss.detach().item()
        what = "NaN" if math.isnan(value) else "infinite"
        grad_bad = next((n for n, ps in by_layer.items()
                         if any(p.grad is not None and not torch.isfinite(p.grad).all()
                                for p in ps)), None)
        fwd_bad = _first_non_finite_node(c, batch, objective)
        g = c.graph
        parts = [f"Training stopped at step {self.step + 1} (epoch {self.epoch}): the loss "
                 f"became {what}."]
        if grad_bad:
            parts.append(f"The first layer whose gradient went non-finite is "
                         f"{g.spec(grad_bad).title} '{grad_bad}'.")
        if fwd_bad and fwd_bad != grad_bad:
            parts.append(f"In the forward pass, {g.spec(fwd_bad).title} '{fwd_bad}' is the first "
                         "node to output non-finite values.")
        parts.append(f"Try a lower learning rate (now {self.settings.lr:g}), gradient clipping "
                     "(clip_norm), or batch normalization.")
        return TrainingError(" ".join(parts), grad_bad or fwd_bad)

class _StepGradients:
    """On a log step: keeps the input sequence of each recurrent module (made to require a
    gradient where it is data), so that after backward the size of ∂L/∂x_t at every step t
    can be read. Hooks are on for that one forward pass only."""

    def __init__(self, modules: dict):
        self.inputs: dict[str, torch.Tensor] = {}
        self.handles = [m.register_forward_pre_hook(self._hook(n), with_kwargs=True)
                        for n, m in modules.items()]

    def _hook(self, name: str):
        def hook(module, args, kwargs):
            x = args[0]
            if not x.requires_grad:  # data straight from an Input
                x = x.detach().requires_grad_()
            else:
                x.retain_grad()
            self.inputs[name] = x
            return (x, *args[1:]), kwargs
        return hook

    def finish(self) -> dict[str, list[float]]:
        for h in self.handles:
            h.remove()
        out = {}
        for n, x in self.inputs.items():
            if x.grad is not None and x.dim() == 3:  # N × T × F
                out[n] = x.grad.detach().norm(dim=-1).mean(0).double().tolist()
        return out


class _NonFiniteFinder(fx.Interpreter):
    def __init__(self, gm):
        super().__init__(gm)
        self.first: str | None = None

    def run_node(self, n):
        result = super().run_node(n)
        if self.first is None and n.op in ("call_module", "call_function") and \
                isinstance(result, torch.Tensor) and result.is_floating_point() and \
                not torch.isfinite(result).all():
            self.first = n.name
        return result


def _first_non_finite_node(c: Compiled, batch, objective=None) -> str | None:
    finder = _NonFiniteFinder(objective if objective is not None else c.objective)
    with torch.no_grad():
        finder.run(*batch)
    return finder.first if finder.first in c.graph else None
