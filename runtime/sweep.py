"""Sweeps (issue 29): an Optuna study whose trials are ordinary training runs.

    sweep = Sweep(project, "path/project.json", SweepConfig(trials=8))   # or resume=True
    for ev in sweep.run():     # TrialStarted, the trial's training events, TrialEnded
        ...
    sweep.stop()               # from any thread: the trial under way stops, the sweep ends

Each trial applies its values to a copy of the project (graph parameters through the Graph's
mutators, training settings through pydantic: graph/search.py) and trains it with the Trainer
into its own run folder beside the other runs (runtime/runs.py; run.json says which sweep and
trial). Epoch-end values of the metric go to the pruner; a pruned trial's run is stopped. A
trial whose values the graph refuses (a size that no longer fits: the analysis message), or
whose run fails, is recorded FAIL with the message as its user attribute `message`.

The study lives in one journal file (Optuna's JournalFileBackend: an append-only log replayed
on load) per sweep, `<runs folder>/sweep-<YYYYmmdd-HHMMSS>.journal`, with the sweep's settings
as study attributes. `trials` is the sweep's total: trials ended COMPLETE, PRUNED or FAIL
count; a trial left RUNNING by a killed sweep (or stopped by the user) is marked FAIL with
`interrupted` set, is not counted, and its values are tried again first when the sweep
resumes. A new sweep's first trial is the project as it stands (its values that lie in the
space), so the best trial is never worse than the unswept project.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterator

from graph.project import Project, loads
from graph.search import SearchEntry, SearchError, apply_values, check_search, current_values

from .runs import RunLogger, lower_is_better, new_run_folder, runs_root, tidy_run_folder
from .sweep_space import PRUNERS, SAMPLERS, distributions, grid_size, make_pruner, make_sampler

PARAMETERS = "parameters"  # the second objective of a multi-objective sweep
STUDY = "layerloom-sweep"


class SweepError(Exception):
    """A sweep refused before any trial; str() is the message to show."""


@dataclass
class SweepConfig:
    trials: int
    metric: str = ""  # '' = the project's best_metric (val_loss by default)
    direction: str = ""  # 'maximize' / 'minimize'; '' = from the metric's name
    sampler: str = "tpe"
    pruner: str = "median"
    timeout: float | None = None  # no trial starts after this many seconds
    epochs: int | None = None
    max_steps: int | None = None
    device: str | None = None
    against_parameters: bool = False  # multi-objective: the metric and the parameter count
    baseline: bool = True  # a new sweep's first trial: the project's own values


@dataclass(frozen=True)
class TrialStarted:
    number: int  # 0-based, Optuna's
    index: int  # 1-based among the trials counted, for "trial 3/8"
    total: int
    params: dict
    run: str

    kind = "trialstarted"


@dataclass(frozen=True)
class TrialEnded:
    number: int
    index: int
    total: int
    state: str  # complete | pruned | failed | interrupted
    params: dict
    values: list | None
    run: str
    seconds: float
    message: str = ""

    kind = "trialended"


@dataclass
class Summary:
    trials: int = 0
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    interrupted: int = 0
    best: dict | None = None
    pareto: list = field(default_factory=list)
    journal: str = ""

    def to_dict(self) -> dict:
        d = {"trials": self.trials, "complete": self.complete, "pruned": self.pruned,
             "failed": self.failed, "best": self.best, "journal": self.journal}
        if self.interrupted:
            d["interrupted"] = self.interrupted
        if self.pareto:
            d["pareto"] = self.pareto
        return d


def journals(root: Path) -> list[Path]:
    """The sweeps' journal files under a project's runs folder, oldest first."""
    return sorted(root.glob("sweep-*.journal")) if root.is_dir() else []


def _open_study(path: Path, create: dict | None = None):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _mend(path)
    storage = JournalStorage(JournalFileBackend(str(path), JournalFileOpenLock(str(path))))
    if create is None:
        return optuna.load_study(study_name=STUDY, storage=storage)
    return optuna.create_study(study_name=STUDY, storage=storage, **create)


def _mend(path: Path) -> None:
    """A journal whose last line a kill cut short: the partial line is dropped (appending
    after it would spoil the next record)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


class Sweep:
    def __init__(self, project: Project, project_path: str | Path, config: SweepConfig, *,
                 search: list[SearchEntry] | None = None, resume: bool = False,
                 journal: str | Path | None = None):
        """Refuses (SweepError) before any trial: an empty or unfitting search space, an
        unknown metric, sampler or pruner, nothing to resume. `search`: the space (default:
        the project's `search`); a resumed sweep keeps the one it was started with."""
        if config.trials < 1:
            raise SweepError("--trials must be at least 1")
        self.project, self.config = project, config
        self.project_path = Path(project_path)
        self.base_dir = self.project_path.resolve().parent
        self.root = runs_root(self.project_path.resolve())
        self._stopped = False
        self._trainer = None
        self._t0 = time.perf_counter()
        self.first_trial_s: float | None = None  # from this object to the first Started
        self.trial_seconds = 0.0  # the trials' own runs, summed (this invocation's)
        self.run_seconds = 0.0  # run()'s wall time: the trials and what the sweep adds
        if resume:
            self._resume(journal)
        else:
            self._create(list(project.search if search is None else search), journal)

    # Opening -----------------------------------------------------------------------------------
    def _create(self, search: list[SearchEntry], journal) -> None:
        c = self.config
        if not search:
            raise SweepError("nothing to search: the project has no 'search' entries; add "
                             "some, or give --search TARGET=LOW..HIGH or TARGET=a,b,c")
        bad = check_search(self.project.graph, self.project.training, search)
        if bad:
            raise SweepError(f"{bad[0]}: {bad[1]}")
        for name, allowed in (("sampler", SAMPLERS), ("pruner", PRUNERS)):
            if getattr(c, name) not in allowed:
                raise SweepError(f"--{name} {getattr(c, name)}: use one of {', '.join(allowed)}")
        metric = self._metric(c.metric)
        direction = c.direction or ("minimize" if lower_is_better(metric) else "maximize")
        if direction not in ("minimize", "maximize"):
            raise SweepError(f"--direction {direction}: use max or min")
        self.search, self.metric, self.direction = search, metric, direction
        self.multi = c.against_parameters
        self.sampler, self.pruner = c.sampler, ("none" if self.multi else c.pruner)
        self.epochs, self.max_steps = c.epochs, c.max_steps
        self.root.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = Path(journal) if journal else self.root / f"sweep-{stamp}.journal"
        k = 1
        while path.exists():
            k += 1
            path = self.root / f"sweep-{stamp}-{k}.journal"
        self.journal = path
        self.study = _open_study(path, self._create_args())
        attrs = {"format": "layerloom.sweep", "project": self.project_path.name,
                 "search": [e.to_dict() for e in search], "metric": metric,
                 "direction": direction, "sampler": self.sampler, "pruner": self.pruner,
                 "against_parameters": self.multi, "epochs": self.epochs,
                 "max_steps": self.max_steps}
        for k, v in attrs.items():
            self.study.set_user_attr(k, v)
        self._seal()
        if c.baseline and self.sampler != "grid":
            mine = current_values(self.project.graph, self.project.training, search)
            if mine:
                self.study.enqueue_trial(mine, user_attrs={"baseline": True})

    def _resume(self, journal) -> None:
        found = [Path(journal)] if journal else journals(self.root)
        if not found or not found[-1].is_file():
            raise SweepError(f"no sweep to resume: no sweep-*.journal in {self.root}")
        self.journal = found[-1]
        try:
            self.study = _open_study(self.journal)
            a = self.study.user_attrs
            self.search = [SearchEntry.model_validate(e) for e in a["search"]]
            self.metric, self.direction = a["metric"], a["direction"]
            self.sampler, self.pruner = a["sampler"], a["pruner"]
            self.multi = bool(a.get("against_parameters"))
            self.epochs, self.max_steps = a.get("epochs"), a.get("max_steps")
        except Exception as e:  # noqa: BLE001 a damaged or foreign journal, said in words
            raise SweepError(f"{self.journal}: cannot be resumed ({type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else 'unreadable'})") from None
        bad = check_search(self.project.graph, self.project.training, self.search)
        if bad:
            raise SweepError(f"{self.journal}: the sweep's {bad[0]} no longer fits the "
                             f"project: {bad[1]}")
        self._seal()
        self._mark_interrupted()

    def _create_args(self) -> dict:
        if self.multi:
            return {"directions": [self.direction, "minimize"]}
        return {"direction": self.direction}

    def _seal(self) -> None:
        """The sampler and pruner, seeded past the trials so far."""
        seed = self.project.training.seed + len(self.study.trials)
        self.study.sampler = make_sampler(self.sampler, self.search, seed, self.config.trials)
        self.study.pruner = make_pruner(self.pruner)
        self.distributions = distributions(self.search)

    def _metric(self, asked: str) -> str:
        from . import epoch_metrics as EM
        names = EM.project_metric_names(self.project)
        if names is None:  # the graph as it stands does not compile: trust what was asked
            return asked or ("val_loss" if self.project.training.val_split > 0 else "loss")
        try:
            return EM.resolve_best(asked or self.project.training.best_metric, names)
        except ValueError:
            raise SweepError(f"--metric {asked}: the runs report no such metric; they report "
                             f"{', '.join(names)}") from None

    def _mark_interrupted(self) -> None:
        """Trials a killed sweep left RUNNING: FAIL (interrupted), their run folders closed,
        and their values queued to be tried again first."""
        from optuna.trial import TrialState
        storage = self.study._storage
        waiting = self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            storage.set_trial_user_attr(t._trial_id, "interrupted", True)
            storage.set_trial_user_attr(t._trial_id, "message", "interrupted: the sweep was "
                                        "killed during this trial (its values are tried again)")
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
            run = t.user_attrs.get("run")
            if run:
                self._close_run(self.root / run)
        trials = self.study.get_trials(deepcopy=False)
        retried = {t.user_attrs.get("retry_of") for t in trials}
        for t in trials:  # (a finished trial's attributes are frozen: retry_of says it)
            if t.user_attrs.get("interrupted") and t.number not in retried and t.params \
                    and not waiting:
                self.study.enqueue_trial(dict(t.params), user_attrs={"retry_of": t.number})
                waiting = True  # one retry queued at a time

    @staticmethod
    def _close_run(folder: Path) -> None:
        from graph.fileio import atomic_write_text
        tidy_run_folder(folder)
        try:
            info = json.loads((folder / "run.json").read_text())
        except (OSError, ValueError):
            return
        if info.get("status") == "running":
            info.update(status="failed", message="the sweep was killed during this run")
            atomic_write_text(folder / "run.json", json.dumps(info, indent=1))

    # Counting ----------------------------------------------------------------------------------
    def counted(self) -> list:
        """The trials that count towards the total: ended, and not interrupted."""
        from optuna.trial import TrialState
        done = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        return [t for t in self.study.get_trials(deepcopy=False, states=done)
                if not t.user_attrs.get("interrupted")]

    @property
    def total(self) -> int:
        n = self.config.trials
        return min(n, grid_size(self.search)) if self.sampler == "grid" else n

    # Running -----------------------------------------------------------------------------------
    def stop(self) -> None:
        """From any thread: the trial under way stops (recorded interrupted), none starts."""
        self._stopped = True
        if self._trainer is not None:
            self._trainer.stop()

    def run(self) -> Iterator:
        """The missing trials, one after another; yields TrialStarted, each trial's training
        events, TrialEnded."""
        deadline = (None if self.config.timeout is None
                    else time.monotonic() + self.config.timeout)
        t0 = time.perf_counter()
        try:
            while not self._stopped and len(self.counted()) < self.total:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                yield from self._trial()
        finally:  # (the time the caller spent on the events counts: it is the sweep's)
            self.run_seconds += time.perf_counter() - t0

    def _trial(self) -> Iterator:
        from optuna.trial import TrialState
        trial = self.study.ask(self.distributions)
        params = dict(trial.params)
        index, total = len(self.counted()) + 1, self.total
        copy = loads(self.project.to_json(), str(self.project_path))
        folder = new_run_folder(self.root)
        trial.set_user_attr("run", folder.name)
        yield TrialStarted(trial.number, index, total, params, folder.name)
        t0 = time.perf_counter()
        try:
            apply_values(copy, params)
        except SearchError as e:
            folder.rmdir()
            trial.set_user_attr("run", "")
            self._fail(trial, str(e))
            yield TrialEnded(trial.number, index, total, "failed", params, None, "", 0.0,
                             str(e))
            return
        state, values, message = yield from self._train(trial, copy, folder)
        seconds = time.perf_counter() - t0
        self.trial_seconds += seconds
        trial.set_user_attr("seconds", round(seconds, 3))
        if state == "complete":
            self.study.tell(trial, values if self.multi else values[0])
        elif state == "pruned":
            self.study.tell(trial, state=TrialState.PRUNED)
        else:
            if state == "interrupted":
                trial.set_user_attr("interrupted", True)
            self._fail(trial, message)
        yield TrialEnded(trial.number, index, total, state, params, values, folder.name,
                         seconds, message)

    def _fail(self, trial, message: str) -> None:
        from optuna.trial import TrialState
        trial.set_user_attr("message", message)
        self.study.tell(trial, state=TrialState.FAIL)

    def _train(self, trial, project: Project, folder: Path):
        """One ordinary run with the trial's values: (state, values, message)."""
        from .train import Trainer
        # no watchers: nothing shows a trial's live boundary or dead units (their <= 2 % each)
        trainer = Trainer(project, base_dir=self.base_dir, device=self.config.device,
                          epochs=self.epochs, max_steps=self.max_steps, watch=())
        self._trainer = trainer
        if self._stopped:
            trainer.stop()
        logger = RunLogger(folder, project, trainer)
        logger.info["sweep"] = {"journal": self.journal.name, "trial": trial.number,
                                "params": dict(trial.params)}
        state, values, message, parameters = "failed", None, "", 0
        try:
            for ev in trainer.run():
                logger.handle(ev)
                yield ev
                k = ev.kind
                if k == "started":
                    parameters = ev.parameters
                    if self.first_trial_s is None:
                        self.first_trial_s = time.perf_counter() - self._t0
                elif k == "epochend" and not self.multi:
                    v = ev.metrics.get(self.metric)
                    if v is not None and math.isfinite(v):
                        trial.report(v, ev.epoch)
                        if state != "pruned" and trial.should_prune():
                            state = "pruned"
                            message = f"pruned at epoch {ev.epoch} ({self.metric} {v:.4g})"
                            trainer.stop()
                elif k == "finished":
                    v = ev.metrics.get(self.metric)
                    if v is None or not math.isfinite(v):
                        shown = ", ".join(ev.metrics) or "none"
                        message = (f"the run reported no finite {self.metric} (it reported: "
                                   f"{shown})")
                    else:
                        state = "complete"
                        values = [float(v)] + ([float(parameters)] if self.multi else [])
                elif k == "stopped" and state != "pruned":
                    state, message = "interrupted", "stopped by the user"
                elif k == "failed":
                    message = ev.message
        finally:
            logger.close()
            self._trainer = None
        return state, values, message

    # Results -----------------------------------------------------------------------------------
    def summary(self) -> Summary:
        from optuna.trial import TrialState
        s = Summary(journal=str(self.journal))
        for t in self.study.get_trials(deepcopy=False):
            if t.user_attrs.get("interrupted"):
                s.interrupted += 1
            elif t.state == TrialState.COMPLETE:
                s.complete += 1
            elif t.state == TrialState.PRUNED:
                s.pruned += 1
            elif t.state == TrialState.FAIL:
                s.failed += 1
        s.trials = s.complete + s.pruned + s.failed
        if s.complete:
            if self.multi:
                front = sorted(self.study.best_trials, key=lambda t: t.values[0],
                               reverse=self.direction == "maximize")
                s.pareto = [self._describe(t) for t in front]
                s.best = s.pareto[0]
            else:
                s.best = self._describe(self.study.best_trial)
        return s

    def _describe(self, t) -> dict:
        return {"number": t.number, "values": list(t.values), "params": dict(t.params),
                "run": str(self.root / t.user_attrs.get("run", ""))}
