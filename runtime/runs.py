"""Run folders: what each training run leaves beside its project.

  <project folder>/runs/<project>/<YYYYmmdd-HHMMSS>/
      run.json          status, settings, final metrics, the message of a failure
      project.json      the project as it was trained
      steps.csv         step, epoch, loss, lr, samples_per_s, data_wait (the share of the
                        steps' time spent waiting for data; absent from older files), and the
                        named values a recipe logs (a GAN's d_loss.loss, g_loss.loss, D(x),
                        D(G(z))), per logged step
      epochs.csv        epoch, step, seconds, and every metric (loss, accuracy, val_…)
      grads.csv         step and each layer's gradient norm
      activations.csv   step, epoch, layer, units, dead, mean, std, dead_units (the dead
                        units' indices, space-separated): each ReLU-like layer's output on
                        up to 256 validation samples, now and then (runtime/watch_activations)
      checkpoints/last  the latest state (at most every 10 s, and always when the run ends,
                        is stopped or fails after starting): resumable
      checkpoints/best  the epoch with the best training.best_metric (by default the lowest
                        val_loss, or loss without a validation split);
                        kept in memory and written at most every 10 s and at the end
      samples/epoch_NNNN.npz   a generator's samples of its fixed noise batch after epoch NNNN
                        (the adversarial recipe's Samples marked epoch_end): `generated`
                        (float32, M × sample shape), `step`, and `judged` (what the dataset's
                        judge makes of them, as JSON); one small file per epoch
      events.out.tfevents.*   the same scalars for TensorBoard, when it is installed: written
                        from the CSV files when the run ends (a writer thread during the run
                        cost a batch-1 recipe a quarter of its speed, by GIL contention)

A stopped run resumes into the same folder; its CSV files grow where they stopped, and
samples/ gains the epochs it goes on to (an epoch run again replaces its file).
"""
from __future__ import annotations

import csv
import io
import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from graph.fileio import atomic_write_bytes, atomic_write_text, clean_stale, recover_folder
from graph.project import Project


def lower_is_better(metric: str) -> bool:
    """Losses and errors fall as a model improves; accuracies, exact match, a GAN's modes
    covered and sample quality rise."""
    m = metric.lower()
    return m.endswith(("loss", "mae", "mse", "nats", "error")) or m == "loss"

from .events import Event

ACTIVATION_COLUMNS = ["step", "epoch", "layer", "units", "dead", "mean", "std", "dead_units"]


def runs_root(project_path: str | Path | None, home: str | Path | None = None,
              name: str = "untitled") -> Path:
    """Where a project's runs go: beside the project file, or under `home` (by the
    project's name) while it is unsaved."""
    if project_path:
        p = Path(project_path)
        return p.parent / "runs" / p.stem
    slug = "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_") or "untitled"
    return Path(home or Path.home() / ".layerloom") / "runs" / slug


def new_run_folder(root: Path) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = root / stamp
    k = 1
    while folder.exists():
        k += 1
        folder = root / f"{stamp}-{k}"
    folder.mkdir(parents=True)
    return folder


def tidy_run_folder(folder: str | Path) -> None:
    """What killed writers left in a run folder: its checkpoints' temp folders (a checkpoint
    moved aside is put back), run.json's temp files. Live writers' temps are left alone."""
    folder = Path(folder)
    for c in ("last", "best"):
        recover_folder(folder / "checkpoints" / c)
    for name in ("run.json", "project.json"):
        clean_stale(folder / name)


def _tensorboard_writer(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(log_dir=str(folder), flush_secs=10)


class RunLogger:
    """Feed it the trainer's events (`handle`); it writes the run folder. Checkpoints are
    taken through the trainer while it is suspended at the event being handled."""

    def __init__(self, folder: str | Path, project: Project, trainer, resume: bool = False,
                 tensorboard: bool = True):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        tidy_run_folder(self.folder)
        self.trainer = trainer
        self.info = self._read_info() if resume else {}
        self.info.update({"format": "layerloom.run", "project": project.name,
                          "status": "running", "settings": trainer.settings.model_dump(mode="json")})
        self.info.setdefault("started", datetime.now().isoformat(timespec="seconds"))
        if resume:
            self.info["resumed"] = self.info.get("resumed", 0) + 1
        else:
            project.save(self.folder / "project.json")
        self.best_metric = trainer.settings.best_metric
        self.lower_better = lower_is_better(self.best_metric or "val_loss")
        self.best = self.info.get("best_value", math.inf if self.lower_better else -math.inf)
        self._best_snapshot = None  # the best epoch's state, not yet on disk
        self._last_ckpt = self._last_best = self._last_info = time.monotonic()
        self._files: dict[str, tuple] = {}
        self._layers: list[str] = []
        self._values: list[str] = []  # the named values each step carries (Started.values)
        self.tensorboard = tensorboard
        self._write_info()

    def _read_info(self) -> dict:
        try:
            return json.loads((self.folder / "run.json").read_text())
        except (OSError, ValueError):
            return {}

    def _write_info(self) -> None:
        atomic_write_text(self.folder / "run.json", json.dumps(self.info, indent=1))

    def _row(self, name: str, header: list[str], values: dict) -> None:
        if name not in self._files:
            path = self.folder / name
            exists = path.exists() and path.stat().st_size > 0
            if exists:  # resuming: keep the header already there
                with open(path, newline="") as f:
                    header = next(csv.reader(f), header)
            f = open(path, "a", newline="")
            w = csv.writer(f)
            if not exists:
                w.writerow(header)
            self._files[name] = (f, w, header)
        f, w, header = self._files[name]
        w.writerow([_fmt(values.get(h, "")) for h in header])

    def _flush(self) -> None:
        for f, _, _ in self._files.values():
            f.flush()

    def handle(self, ev: Event) -> None:
        k = ev.kind
        if k == "started":
            self._layers = list(ev.layers)
            self._values = list(ev.values)
            # the metric the trainer resolved ('map50' → 'val_map50'), '' meaning val_loss
            chosen = getattr(self.trainer, "best_metric", None)
            if chosen and chosen != self.best_metric:
                self.best_metric = chosen
                self.lower_better = lower_is_better(chosen)
                self.best = self.info.get("best_value",
                                          math.inf if self.lower_better else -math.inf)
            self.info["best_metric"] = self.best_metric or "val_loss"
            self.info.update(device=ev.device, device_name=ev.device_name,
                             total_steps=ev.total_steps, parameters=ev.parameters,
                             baselines=ev.baselines)
            if ev.vocab is not None:  # what the token ids mean: the app decodes and prompts
                self.info["vocab"] = ev.vocab
            self._write_info()
        elif k == "step":
            # data_wait when the event has it (a resumed older file keeps its own header)
            wait = ["data_wait"] if hasattr(ev, "data_wait") else []
            self._row("steps.csv", ["step", "epoch", "loss", "lr", "samples_per_s"]
                      + wait + self._values, {**vars(ev), **ev.values})
        elif k == "samples":
            if ev.epoch_end:
                write_samples(self.folder, ev.epoch, ev.step, ev.fake, ev.metrics)
        elif k == "gradstats":
            self._row("grads.csv", ["step"] + self._layers, {"step": ev.step, **ev.norms})
        elif k == "activations":  # one row per layer
            for layer, st in ev.layers.items():
                self._row("activations.csv", ACTIVATION_COLUMNS,
                          {**st, "step": ev.step, "epoch": ev.epoch, "layer": layer,
                           "dead_units": " ".join(str(i) for i in st["dead_units"])})
        elif k == "epochend":
            row = {"epoch": ev.epoch, "step": ev.step, "seconds": ev.seconds, **ev.metrics}
            self._row("epochs.csv", ["epoch", "step", "seconds"] + list(ev.metrics), row)
            self._flush()
            now = time.monotonic()
            watch = (ev.metrics.get(self.best_metric) if self.best_metric else
                     ev.metrics.get("val_loss", ev.metrics.get("loss")))
            better = watch is not None and math.isfinite(watch) and (
                watch < self.best if self.lower_better else watch > self.best)
            if better:
                self.best = watch
                self.info.update(best_value=watch, best_epoch=ev.epoch)
                self._best_snapshot = self.trainer.snapshot()
            if self._best_snapshot is not None and now - self._last_best >= 10:
                self._write_best()
            if now - self._last_ckpt >= 10:  # a resumable state at least every 10 s
                self._save_last()
                self._last_ckpt = now
            self.info.update(steps=ev.step, epoch=ev.epoch, last_metrics=ev.metrics)
            if now - self._last_info >= 2:
                self._write_info()
                self._last_info = now
        elif k == "stopped":
            if self.trainer.compiled is not None:
                self._save_last()
            self._write_best()
            self.info.update(status="stopped", steps=ev.step)
            self._write_info()
        elif k == "finished":
            self._save_last()
            self._write_best()
            self.info.update(status="finished", steps=ev.step, final=ev.metrics,
                             seconds=ev.seconds, samples_per_s=ev.samples_per_s)
            self._write_info()
        elif k == "failed":
            self._write_best()
            self.info.update(status="failed", message=ev.message, node=ev.node, steps=ev.step)
            self._write_info()

    def _save_last(self) -> None:
        self.trainer.save_checkpoint(self.folder / "checkpoints" / "last")

    def _write_best(self) -> None:
        from .checkpoint import write
        if self._best_snapshot is not None:
            write(self.folder / "checkpoints" / "best", self._best_snapshot)
            self._best_snapshot = None
            self._last_best = time.monotonic()

    def close(self) -> None:
        self._write_best()
        for f, _, _ in self._files.values():
            f.close()
        self._files = {}
        if self.info.get("status") == "running":  # the run ended without a final event
            self.info["status"] = "stopped"
        if self.tensorboard:
            self._write_tensorboard()
        self._write_info()

    def _write_tensorboard(self) -> None:
        """The CSV files as TensorBoard scalars, from the step after the last one written
        (a resumed run adds an event file with its new part)."""
        writer = _tensorboard_writer(self.folder)
        if writer is None:
            return
        since = self.info.get("tensorboard_step", 0)
        last = since
        steps = read_csv(self.folder / "steps.csv")
        for i, step in enumerate(steps.get("step", [])):
            if step > since:
                writer.add_scalar("train/loss_step", steps["loss"][i], int(step))
                writer.add_scalar("train/lr", steps["lr"][i], int(step))
                last = max(last, step)
        grads = read_csv(self.folder / "grads.csv")
        for i, step in enumerate(grads.get("step", [])):
            if step > since:
                for layer, values in grads.items():
                    if layer != "step" and math.isfinite(values[i]):
                        writer.add_scalar(f"grad_norm/{layer}", values[i], int(step))
        epochs = read_csv(self.folder / "epochs.csv")
        for i, step in enumerate(epochs.get("step", [])):
            if step > since:
                for name, values in epochs.items():
                    if name not in ("epoch", "step", "seconds") and math.isfinite(values[i]):
                        writer.add_scalar(f"epoch/{name}", values[i], int(step))
                last = max(last, step)
        writer.close()
        self.info["tensorboard_step"] = last


def _fmt(v):
    return f"{v:.6g}" if isinstance(v, float) else v


# Reading runs back ------------------------------------------------------------------------------

@dataclass
class RunInfo:
    folder: Path
    status: str
    started: str
    steps: int
    info: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def resumable(self) -> bool:
        return self.status in ("stopped", "failed") and \
            (self.folder / "checkpoints" / "last" / "trainer.json").exists()


def checkpoints(run: RunInfo) -> list[tuple[str, Path]]:
    """A run's checkpoints that hold weights, best first: ('best', folder), ('last', …)."""
    out = []
    for which in ("best", "last"):
        folder = Path(run.folder) / "checkpoints" / which
        if (folder / "model.safetensors").is_file():
            out.append((which, folder))
    return out


def list_runs(root: str | Path) -> list[RunInfo]:
    out = []
    root = Path(root)
    if not root.is_dir():
        return out
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        tidy_run_folder(d)
        try:
            info = json.loads((d / "run.json").read_text())
        except (OSError, ValueError):
            continue
        out.append(RunInfo(d, info.get("status", "?"), info.get("started", ""),
                           int(info.get("steps", 0) or 0), info))
    return out


def read_csv(path: str | Path) -> dict[str, list[float]]:
    """Columns of a run CSV as float lists ('' becomes NaN)."""
    cols: dict[str, list[float]] = {}
    try:
        with open(path, newline="") as f:
            r = csv.reader(f)
            header = next(r, [])
            for h in header:
                cols[h] = []
            for row in r:
                for h, v in zip(header, row):
                    try:
                        cols[h].append(float(v))
                    except ValueError:
                        cols[h].append(math.nan)
    except OSError:
        pass
    return cols


def write_samples(folder: Path, epoch: int, step: int, generated, judged: dict) -> None:
    """One epoch's samples into `folder`/samples/epoch_NNNN.npz, written atomically."""
    import numpy as np
    buf = io.BytesIO()
    np.savez(buf, generated=np.asarray(generated, dtype=np.float32), step=np.int64(step),
             judged=np.str_(json.dumps({k: float(v) for k, v in judged.items()})))
    (folder / "samples").mkdir(exist_ok=True)
    atomic_write_bytes(folder / "samples" / f"epoch_{epoch:04d}.npz", buf.getvalue())


def read_samples(folder: str | Path) -> list[dict]:
    """A run's samples per epoch, in epoch order: {epoch, step, judged, generated (ndarray)};
    a file that cannot be read is left out."""
    import numpy as np
    out = []
    for f in sorted(Path(folder, "samples").glob("epoch_*.npz")):
        try:
            with np.load(f, allow_pickle=False) as z:
                out.append({"epoch": int(f.stem.split("_")[1]), "step": int(z["step"]),
                            "judged": json.loads(str(z["judged"])),
                            "generated": z["generated"]})
        except (OSError, ValueError, KeyError, IndexError):
            continue
    return out


def save_samples(folder: str | Path, events: list) -> None:
    """The epoch-end Samples of a run saved beside weights (`layerloom train --out`): from
    the run's first epoch on they replace what `folder`/samples/ held (a resumed run keeps
    the epochs before it, a fresh one starts the list again)."""
    if not events:
        return
    folder = Path(folder)
    for ev in events:
        write_samples(folder, ev.epoch, ev.step, ev.fake, ev.metrics)
    first, names = min(ev.epoch for ev in events), {ev.epoch for ev in events}
    for r in read_samples(folder):
        if r["epoch"] >= first and r["epoch"] not in names:
            (folder / "samples" / f"epoch_{r['epoch']:04d}.npz").unlink(missing_ok=True)


def samples_folder_of(weights: str | Path) -> Path | None:
    """Where the samples per epoch of `weights` are kept: the run folder it is, or holds it
    (a checkpoint, its weights file), or the folder `layerloom train --out` saved it in;
    None when there are none."""
    p = Path(weights).resolve()
    for d in [p, *list(p.parents)[:3]]:
        if (d / "samples").is_dir():
            return d
    return None


def run_with_logging(trainer, project: Project, folder: Path, resume: bool = False):
    """Drive `trainer`, logging every event into `folder`, and pass the events on."""
    logger = RunLogger(folder, project, trainer, resume=resume)
    try:
        for ev in trainer.run():
            logger.handle(ev)
            yield ev
    finally:
        logger.close()
