"""The `layerloom` command: gui (the default), templates, check, train, export, import.

Heavy imports (torch) happen inside the commands that need them, so `layerloom templates`
answers at once.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
from pathlib import Path

from runtime.cpu import mark as _cpu_mark

# The machine's load is sampled from here to the start of training (torch's import is the
# sample window): a run trains with the cores other processes leave idle (runtime/cpu.py).
_STARTED = _cpu_mark()

EXIT_OK, EXIT_PROBLEMS, EXIT_UNREADABLE = 0, 1, 2
EXIT_BAD_OUT = 2  # an --out refused before any work (like argparse's usage errors)


def _load(path: str):
    from graph.project import ProjectError, load
    try:
        return load(path)
    except ProjectError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(EXIT_UNREADABLE) from None


def cmd_templates(args) -> int:
    from templates import list_templates
    for t in list_templates():
        print(f"{t.name}\t{t.path}")
    return EXIT_OK


def _count(n: int) -> str:
    return f"{n:,}"


def cmd_check(args) -> int:
    project = _load(args.file)
    from graph.analysis import analyse
    from runtime.summary import summarise

    g = project.graph
    analysis = analyse(g)
    rows = summarise(g, analysis)
    headers = ("node", "type", "output shape", "params")
    table = [headers] + [(r.node, r.type, r.output, "?" if r.params is None else _count(r.params))
                         for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for i, row in enumerate(table):
        print("  ".join(c.rjust(w) if j == 3 else c.ljust(w)
                        for j, (c, w) in enumerate(zip(row, widths))).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    from runtime.compile import CompileError, check_memory, format_bytes
    total = sum(r.params or 0 for r in rows)
    print(f"\n{len(rows)} nodes, {_count(total)} parameters "
          f"({format_bytes(total * 4)} as float32)")
    errors = analysis.errors
    if not errors:  # what compile would refuse before allocating: weights that do not fit
        try:
            check_memory(g, analysis)
        except CompileError as e:
            errors = list(e.issues)
    if not errors and project.training.best_metric:  # a metric the run will report
        from graph.analysis import Issue
        from runtime.epoch_metrics import project_metric_names, resolve_best
        names = project_metric_names(project)
        try:
            if names:
                resolve_best(project.training.best_metric, names)
        except ValueError as e:
            errors = [Issue(None, None, str(e))]
    warnings = [i for i in analysis.issues if i.severity == "warning"]
    for w in warnings:
        print(f"warning: {w}")
    if errors:
        print(f"\n{len(errors)} problem{'s' if len(errors) > 1 else ''}:")
        for e in errors:
            where = e.node or "graph"
            print(f"  {where}{f' (port {e.port})' if e.port else ''}: {e.message}")
        return EXIT_PROBLEMS
    print("no problems found")
    return EXIT_OK


class OutError(Exception):
    pass


def _prepare_out(folder: Path) -> list[Path]:
    """Check `train --out` before training: a folder, or a path where one can be made; and
    writable (tried with a probe file). Returns the folders it created (removed again if
    nothing gets saved); raises OutError naming the path."""
    if folder.exists() and not folder.is_dir():
        raise OutError(f"{folder}: is a file, not a folder (--out names a folder for the "
                       "weights and a copy of the project)")
    created = []
    for p in (folder, *folder.parents):
        if p.exists():
            break
        created.append(p)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        import tempfile
        with tempfile.TemporaryFile(dir=folder, prefix=".layerloom-probe-"):
            pass
    except OSError as e:
        _remove_empty(created)
        where = e.filename or folder
        raise OutError(f"{where}: cannot write there ({e.strerror or e})") from None
    return created


def _remove_empty(folders: list[Path]) -> None:
    for p in folders:  # deepest first
        try:
            p.rmdir()
        except OSError:
            return


def _copy_data_path(options: dict, source_dir: Path, dest_dir: Path) -> dict:
    """A project copied from source_dir to dest_dir: its relative data file path made relative
    to dest_dir (or absolute where no relative path leads there)."""
    path = options.get("path")
    if not isinstance(path, str) or not path or Path(path).expanduser().is_absolute() \
            or path.startswith("~"):
        return options
    target = (source_dir / path).resolve()
    try:
        new = os.path.relpath(target, dest_dir.resolve())
    except ValueError:  # another drive (Windows)
        new = str(target)
    return {**options, "path": Path(new).as_posix()}


def _save_trained(project, model, source: Path, folder: Path, steps,
                  samples=()) -> tuple[Path, Path]:
    """The weights and a copy of the project (its data path still leading to the data), and
    a generator's samples per epoch (runtime/runs.save_samples)."""
    from graph.fileio import atomic_write_text
    from graph.project import dumps
    from runtime.data import DATASETS
    from runtime.weights import save_weights

    stem = source.stem
    weights, copy = folder / f"{stem}.safetensors", folder / f"{stem}.json"
    save_weights(model, weights, {"project": copy.name, "steps": str(steps)})
    d = project.to_dict()
    kind = DATASETS.get(project.data.dataset)
    if kind is not None and kind.takes_path:
        d["data"]["options"] = _copy_data_path(d["data"]["options"], source.resolve().parent,
                                               folder)
    atomic_write_text(copy, dumps(d))
    from runtime.runs import save_samples
    save_samples(folder, list(samples))
    return weights, copy


def _fallback_folder(stem: str) -> Path:
    """A new folder for weights that could not be saved where asked: under $LAYERLOOM_HOME
    (its unsaved/ folder), else the system's temp folder."""
    import tempfile
    bases = []
    if os.environ.get("LAYERLOOM_HOME"):
        bases.append(Path(os.environ["LAYERLOOM_HOME"]) / "unsaved")
    bases.append(Path(tempfile.gettempdir()))
    last = None
    for base in bases:
        try:
            base.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix=f"layerloom-{stem}-", dir=base))
        except OSError as e:
            last = e
    raise last


def _start_weights(project, base_dir: Path, weights: str | None):
    """The starting weights (--weights, else the project's training.initial_weights) checked
    against the graph before any work: their file, None when there are none, or the problem
    in words (a str) naming the file and the node at fault."""
    from runtime.start_weights import check_start, project_start
    from runtime.weights import WeightsError
    path = weights if weights is not None else project_start(project, base_dir)
    if path is None:
        return None
    where = "--weights" if weights is not None else "training.initial_weights"
    try:
        return check_start(project, path)
    except WeightsError as e:
        return f"{where}: {e}"


def cmd_train(args) -> int:
    project = _load(args.file)
    created: list[Path] = []
    if args.out:
        try:
            created = _prepare_out(Path(args.out))
        except OutError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_BAD_OUT
    from .cli_distributed import (check_resume, describe, keep_checkpoint, rank_setup, relaunch,
                                  report_rank)
    bad = check_resume(args)  # --resume: its checkpoint folder, found before any work
    if bad:
        print(f"error: {bad}", file=sys.stderr)
        _remove_empty(created)
        return EXIT_UNREADABLE
    code = relaunch(args, lambda: _remove_empty(created))  # --nproc: through torchrun
    if code is not None:
        return code
    import torch

    from runtime.cpu import training_threads
    from runtime.train import Trainer

    torch.set_num_threads(training_threads(_STARTED))
    rank_setup(args, project)  # one of several processes: join them (rank 0 alone speaks)
    base_dir = Path(args.file).resolve().parent
    start = _start_weights(project, base_dir, args.weights)
    if isinstance(start, str):
        print(f"error: {start}", file=sys.stderr)
        _remove_empty(created)
        return EXIT_UNREADABLE
    trainer = Trainer(project, base_dir=base_dir, device=args.device, epochs=args.epochs,
                      max_steps=args.max_steps, initial_weights=args.weights,
                      resume_from=args.resume)
    out = sys.stderr if args.json else sys.stdout
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum, frame):  # first Ctrl-C: stop cleanly after this step
        trainer.stop()
        signal.signal(signal.SIGINT, previous)
    signal.signal(signal.SIGINT, on_sigint)

    from tqdm import tqdm
    import time
    bar = None
    t_start = time.perf_counter()
    last_loss, last_metrics = None, {}
    result: dict = {"status": "failed", "steps": 0, "seconds": 0.0, "final_loss": None,
                    "metrics": {}, "device": args.device or project.training.device,
                    "samples_per_second": 0.0}
    kept = []  # a generator's samples at each epoch's end: saved beside the weights
    prep = None  # the data step under way: its bar, and what it says (a disabled tqdm keeps
    prepared = None  # no desc, count or clock of its own: --no-progress)
    from runtime.watch_events import DeadReport
    dead = DeadReport()  # a line when dead ReLU units appear or change
    for ev in trainer.run():
        k = ev.kind
        if k == "preparing":  # a data step (selective search) before the first step
            if prep is None:
                prep = tqdm(total=ev.total, unit="image", desc=ev.what, file=sys.stderr,
                            dynamic_ncols=True, disable=args.no_progress, leave=False)
                prepared = {"what": ev.what, "done": 0, "t0": time.perf_counter()}
                if ev.note:  # the cache was damaged: why this run computes it again
                    tqdm.write(f"note: {ev.note}", file=out)
            prep.update(max(ev.done - prepared["done"], 0))
            prepared["done"] = ev.done
            continue
        if prep is not None:
            prep.close()
            prep = None
            if k != "stopped":  # a search cut short is neither done nor cached
                seconds = time.perf_counter() - prepared["t0"]
                print(f"{prepared['what']}: {prepared['done']:,} images in {seconds:.1f} s "
                      "(cached for the next runs)", file=out)
        if k == "started":
            print(f"Training {project.name} on {ev.device_name}: {_count(ev.n_train)} training / "
                  f"{_count(ev.n_val)} validation samples, {_count(ev.parameters)} parameters, "
                  f"{ev.epochs} epochs × {ev.steps_per_epoch} steps ({ev.recipe})", file=out)
            result["device"] = ev.device
            if describe(trainer):  # several processes: the global batch
                print(describe(trainer), file=out)
            for note in getattr(ev, "notes", []):  # torch.compile's fallback
                print(note, file=out)
            if trainer.started_from is not None:
                result["initial_weights"] = str(trainer.started_from)
                print(f"starting from the weights in {trainer.started_from}", file=out)
            if ev.baselines:
                result["baselines"] = ev.baselines
                print("baselines (what a trivial model scores): "
                      + ", ".join(f"{k.replace('_', ' ')} {v:.4g}"
                                  for k, v in ev.baselines.items()), file=out)
            bar = tqdm(total=ev.total_steps, unit="step", file=sys.stderr, dynamic_ncols=True,
                       disable=args.no_progress, leave=False)
        elif k == "step":
            last_loss = ev.loss
            bar.update(ev.step - bar.n)
            bar.set_postfix(loss=f"{ev.loss:.4f}", samples_s=f"{ev.samples_per_s:,.0f}",
                            data=f"{ev.data_wait:.0%}", refresh=False)  # waiting for data
        elif k == "samples" and ev.epoch_end:
            kept.append(ev)
        elif k == "activations" and (line := dead.line(ev)):
            (bar.write(line, file=out) if bar else print(line, file=out))
        elif k == "epochend":
            last_metrics = ev.metrics
            line = "  ".join(f"{name} {v:.4f}" for name, v in ev.metrics.items())
            msg = f"epoch {ev.epoch}  {line}  ({ev.seconds:.2f} s)"
            (bar.write(msg, file=out) if bar else print(msg, file=out))
        elif k in ("finished", "stopped", "failed"):
            if bar:
                bar.close()
            if k != "failed":  # --out: the checkpoint --resume goes on from
                keep_checkpoint(trainer, args, out)
            result["steps"] = ev.step
            if k == "finished":
                result.update(status="finished", seconds=round(ev.seconds, 3),
                              final_loss=ev.final_loss, metrics=ev.metrics,
                              device=ev.device, samples_per_second=round(ev.samples_per_s, 1))
                mets = ", ".join(f"{n} {v:.4f}" for n, v in ev.metrics.items())
                print(f"done: {ev.step} steps in {ev.seconds:.1f} s "
                      f"({ev.samples_per_s:,.0f} samples/s): {mets}", file=out)
            elif k == "stopped":
                seconds = time.perf_counter() - t_start
                result.update(status="stopped", seconds=round(seconds, 3), final_loss=last_loss,
                              metrics=last_metrics)
                print(f"stopped at step {ev.step} (epoch {ev.epoch}): {ev.reason}", file=out)
            else:
                result["error"] = ev.message
                if ev.node:
                    result["node"] = ev.node
                print(f"error: {ev.message}", file=sys.stderr)
    signal.signal(signal.SIGINT, previous)

    code = EXIT_OK if result["status"] != "failed" else EXIT_PROBLEMS
    if args.out and result["status"] in ("finished", "stopped") and trainer.model is not None:
        source = Path(args.file)
        try:
            weights, copy = _save_trained(project, trainer.model, source, Path(args.out),
                                          result["steps"], kept)
            print(f"saved {weights} beside {copy}", file=out)
        except Exception as e:  # disk full, permissions changed...: keep the trained weights
            why = f"{args.out}: {getattr(e, 'strerror', None) or e}"
            result["error"] = f"could not save the trained model: {why}"
            code = EXIT_PROBLEMS
            try:
                weights, copy = _save_trained(project, trainer.model, source,
                                              _fallback_folder(source.stem), result["steps"],
                                              kept)
                result["error"] += f" (saved to {weights.parent} instead)"
                print(f"error: could not save the trained model to {why}; saved it to "
                      f"{weights} instead (with {copy.name})", file=sys.stderr)
            except Exception as e2:
                weights = copy = None
                result["error"] += f" (nor to a fallback folder: {e2})"
                print(f"error: could not save the trained model to {why}, nor to a fallback "
                      f"folder ({e2}): the trained weights are lost", file=sys.stderr)
        if weights is not None:
            result["weights"], result["project"] = str(weights), str(copy)
    elif created:
        _remove_empty(created)  # nothing saved: leave no empty folders behind
    if not report_rank(_finite(result), trainer) and args.json:  # a rank: to the launcher
        print(json.dumps(_finite(result)))
    return code


def _finite(v):
    """JSON has no NaN: write null instead."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    return v


def cmd_export(args) -> int:
    if args.weights is None and args.format != "script":
        print(f"error: --weights is required for the {args.format} format", file=sys.stderr)
        return 2
    project = _load(args.file)
    from runtime.export import DestinationError, ExportError, export
    try:
        files = export(project, args.weights, args.format, args.out, force=args.force,
                       project_path=args.file)
    except DestinationError as e:  # refused before any work
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_OUT
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_PROBLEMS
    except OSError as e:
        print(f"error: {e.filename or args.out}: {e.strerror or e}", file=sys.stderr)
        return EXIT_PROBLEMS
    except Exception as e:  # an exporter's own failure: one line, no traceback
        print(f"error: {args.out}: export failed: {type(e).__name__}: "
              f"{(str(e).splitlines() or [''])[0]}", file=sys.stderr)
        return EXIT_PROBLEMS
    for f in files:
        print(f)
    return EXIT_OK


def _cmd_import(args) -> int:
    from .cli_import import cmd_import
    return cmd_import(args)


def _cmd_sweep(args) -> int:
    from .cli_sweep import cmd_sweep
    return cmd_sweep(args)


def _cmd_evaluate(args) -> int:
    from .cli_evaluate import cmd_evaluate
    return cmd_evaluate(args)


def cmd_gui(args) -> int:
    from .gui import run
    return run(args.file, train=args.train)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="layerloom", description="Build, train and export neural "
                                "networks as graphs of layers.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    gui = sub.add_parser("gui", help="open the app (the default with no command)")
    gui.add_argument("file", nargs="?", help="a project file to open")
    gui.add_argument("--train", action="store_true", help="start training FILE at once")
    sub.add_parser("templates", help="list the template projects (name and file)")
    c = sub.add_parser("check", help="check a project: shapes, parameters and problems")
    c.add_argument("file")
    t = sub.add_parser("train", help="train a project headless")
    t.add_argument("file")
    t.add_argument("--epochs", type=int, help="override the project's epochs")
    t.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    t.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"))
    t.add_argument("--out", metavar="DIR", help="write the trained weights (safetensors) and a "
                                                "copy of the project here")
    t.add_argument("--weights", metavar="W",
                   help="start from these weights (a .safetensors file, a checkpoint or a run "
                        "folder) instead of the project's training.initial_weights or a fresh "
                        "initialisation")
    t.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    from .cli_distributed import add_arguments as add_distributed
    add_distributed(t)  # --nproc, --nnodes, --node-rank, --rdzv-endpoint
    x = sub.add_parser("export", help="export a trained model")
    x.add_argument("file", help="the project file")
    x.add_argument("--weights", metavar="W",
                   help="trained weights: a .safetensors file, a checkpoint or a run folder "
                        "(required but for script, which otherwise starts from the project's "
                        "initial weights)")
    x.add_argument("--format", required=True,  # runtime.export.FORMATS (no torch import here)
                   choices=("bundle", "torchscript", "onnx", "pt2", "python", "script"),
                   help="bundle (weights + project), torchscript (.pt), onnx (.onnx), pt2 (a "
                        "torch.export ExportedProgram: torch.export.load(path).module()), "
                        "python (a standalone .py file) or script (a folder with train.py: "
                        "training without LayerLoom, torchrun and SLURM ready)")
    x.add_argument("--out", required=True, metavar="PATH", help="the file (or folder) to write")
    x.add_argument("--force", action="store_true",
                   help="replace an existing file or folder at PATH (never the project or the "
                        "weights being exported)")
    from .cli_import import add_parser as add_import
    add_import(sub)
    from .cli_sweep import add_parser as add_sweep
    add_sweep(sub)
    from .cli_evaluate import add_parser as add_evaluate
    add_evaluate(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag in ("epochs", "max_steps"):
        v = getattr(args, flag, None)
        if v is not None and v < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1")
    handlers = {"templates": cmd_templates, "check": cmd_check, "train": cmd_train,
                "gui": cmd_gui, "export": cmd_export, "import": _cmd_import,
                "sweep": _cmd_sweep, "evaluate": _cmd_evaluate}
    if args.command is None:  # `layerloom` alone opens the app
        args = parser.parse_args(["gui"])
    if args.command == "gui" and args.train and not args.file:
        parser.error("--train needs a FILE to train")
    return handlers[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
