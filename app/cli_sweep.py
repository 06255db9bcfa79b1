"""`layerloom sweep`: hyper-parameter and size search with Optuna (issue 29; runtime/sweep.py).
"""
from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

HELP = "search hyper-parameters and sizes: trials of ordinary runs, resumable (Optuna)"

EPILOG = """The search space is the project's "search" list, with --search adding or replacing entries:
  --search TARGET=LOW..HIGH[:log][:int]   a range (int when the target takes whole numbers)
  --search TARGET=a,b,c                   choices
TARGET is node.param (fc1.out_features) or training.setting (training.lr).
Each trial is an ordinary run (its own run folder beside the project's other runs). The sweep is
kept in runs/<project>/sweep-<time>.journal; --resume continues the newest one: its finished
trials are kept, a trial the kill interrupted is recorded failed and its values tried again.
--trials N is the sweep's total (interrupted trials do not count). A new sweep's first trial is
the project as it stands. Exit 0 when some trial completed, 1 when none did, 2 on bad input."""


def add_parser(sub) -> None:
    import argparse
    s = sub.add_parser("sweep", help=HELP, description=HELP + ".", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("file")
    s.add_argument("--trials", type=int, required=True, metavar="N",
                   help="the sweep's total number of trials")
    s.add_argument("--timeout", type=float, metavar="S",
                   help="start no trial after S seconds")
    s.add_argument("--metric", metavar="NAME", help="the epoch metric to optimise (default: "
                   "the project's best_metric, else val_loss)")
    s.add_argument("--direction", choices=("max", "min"),
                   help="default: min for losses and errors, max for the rest")
    s.add_argument("--sampler", choices=("tpe", "random", "grid"), help="default tpe")
    s.add_argument("--pruner", choices=("median", "hyperband", "none"),
                   help="stop trials whose epoch values fall behind (default median)")
    s.add_argument("--search", action="append", default=[], metavar="TARGET=SPACE",
                   help="add or replace a search entry (repeatable)")
    s.add_argument("--against-parameters", action="store_true",
                   help="multi-objective: the metric against the parameter count (the "
                        "Pareto front in --json; no pruning)")
    s.add_argument("--epochs", type=int, help="override the project's epochs in each trial")
    s.add_argument("--max-steps", type=int, help="stop each trial after this many steps")
    s.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    s.add_argument("--resume", action="store_true",
                   help="continue the project's newest sweep (its space and settings kept)")
    s.add_argument("--json", action="store_true", help="end with one JSON line of the results")
    s.add_argument("--no-progress", action="store_true", help="no progress bar per trial")


FIXED_ON_RESUME = ("metric", "direction", "sampler", "pruner", "epochs", "max_steps")


def cmd_sweep(args) -> int:
    from .cli import _STARTED, EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE, _finite, _load

    def bad(message: str) -> int:
        print(f"error: {message}", file=sys.stderr)
        return EXIT_UNREADABLE

    t0 = time.perf_counter()
    if args.trials < 1:
        return bad("--trials must be at least 1")
    for flag in ("epochs", "max_steps"):
        v = getattr(args, flag)
        if v is not None and v < 1:
            return bad(f"--{flag.replace('_', '-')} must be at least 1")
    if args.timeout is not None and not args.timeout > 0:
        return bad("--timeout must be a number of seconds above 0")
    if args.resume:
        given = [f"--{f.replace('_', '-')}" for f in FIXED_ON_RESUME
                 if getattr(args, f) is not None]
        given += ["--search"] * bool(args.search) + ["--against-parameters"] * bool(
            args.against_parameters)
        if given:
            return bad(f"{', '.join(given)}: a resumed sweep keeps the space and settings it "
                       "was started with (only --trials, --timeout and --device apply)")
    project = _load(args.file)

    from graph.search import SearchError, check_search, merge, parse_entry
    from runtime.runs import runs_root
    try:
        search = merge(project.search, [parse_entry(t, project.graph) for t in args.search])
    except SearchError as e:
        return bad(str(e))
    problem = check_search(project.graph, project.training, search)  # (before torch loads)
    if problem and not args.resume:
        return bad(f"{problem[0]}: {problem[1]}")
    from runtime.sweep import journals
    if args.resume and not journals(runs_root(Path(args.file).resolve())):
        return bad(f"no sweep to resume: no sweep-*.journal in "
                   f"{runs_root(Path(args.file).resolve())}")
    import torch

    from runtime.cpu import training_threads
    from runtime.sweep import Sweep, SweepConfig, SweepError
    torch.set_num_threads(training_threads(_STARTED))
    direction = {"max": "maximize", "min": "minimize"}.get(args.direction, "")
    config = SweepConfig(trials=args.trials, metric=args.metric or "", direction=direction,
                         sampler=args.sampler or "tpe", pruner=args.pruner or "median",
                         timeout=args.timeout, epochs=args.epochs, max_steps=args.max_steps,
                         device=args.device, against_parameters=args.against_parameters)
    try:
        sweep = Sweep(project, args.file, config, search=search, resume=args.resume)
    except SweepError as e:
        return bad(str(e))
    out = sys.stderr if args.json else sys.stdout
    before = len(sweep.counted())
    word = "Resuming" if args.resume else "Sweeping"
    space = "; ".join(e.describe() for e in sweep.search)
    print(f"{word} {project.name}: {sweep.total} trials ({before} done), {sweep.metric} "
          f"({sweep.direction}), {sweep.sampler} sampler, {sweep.pruner} pruner; {space}; "
          f"journal {sweep.journal}", file=out)

    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum, frame):  # first Ctrl-C: the trial under way stops, the sweep ends
        sweep.stop()
        signal.signal(signal.SIGINT, previous)
    signal.signal(signal.SIGINT, on_sigint)
    from tqdm import tqdm
    bar = None
    b = sweep.summary().best  # (a resumed sweep's best so far)
    best = (b["values"][0], b["number"]) if b else None
    try:
        for ev in sweep.run():
            k = ev.kind
            if k == "started":
                bar = tqdm(total=ev.total_steps, unit="step", file=sys.stderr, leave=False,
                           dynamic_ncols=True, disable=args.no_progress)
            elif k == "step" and bar is not None:
                bar.update(ev.step - bar.n)
                bar.set_postfix(loss=f"{ev.loss:.4f}", refresh=False)
            elif k == "trialended":
                if bar is not None:
                    bar.close()
                    bar = None
                best = _best_after(ev, best, sweep.direction)
                print(_line(ev, sweep.metric, best), file=out)
    finally:
        signal.signal(signal.SIGINT, previous)
        if bar is not None:
            bar.close()
    s = sweep.summary()
    if s.best:
        b = s.best
        print(f"best: trial {b['number']}, {sweep.metric} {b['values'][0]:.4g}, "
              f"{_params(b['params'])} (run {b['run']})", file=out)
    result = {**s.to_dict(), "metric": sweep.metric, "direction": sweep.direction,
              "seconds": round(time.perf_counter() - t0, 3),
              "sweep_seconds": round(sweep.run_seconds, 3),
              "trial_seconds": round(sweep.trial_seconds, 3),
              "first_trial_s": (None if sweep.first_trial_s is None  # from the command's start
                                else round(sweep.first_trial_s + sweep._t0 - t0, 3))}
    if args.json:
        print(json.dumps(_finite(result)))
    return EXIT_OK if s.complete else EXIT_PROBLEMS


def _params(params: dict) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in params.items())


def _best_after(ev, best, direction: str):
    if ev.state != "complete" or not ev.values:
        return best
    v = ev.values[0]
    if best is None or (v > best[0] if direction == "maximize" else v < best[0]):
        return (v, ev.number)
    return best


def _line(ev, metric: str, best) -> str:
    value = f"{metric} {ev.values[0]:.4f}" if ev.values else ev.message.splitlines()[0] \
        if ev.message else ""
    tail = f"  best {best[0]:.4f} (trial {best[1]})" if best else ""
    run = f"  run {ev.run}" if ev.run else ""
    return (f"trial {ev.index}/{ev.total} #{ev.number} {ev.state}  {value}  "
            f"{_params(ev.params)}{run}  {ev.seconds:.1f} s{tail}")
