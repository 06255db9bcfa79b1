"""Training throughput in the app (live plots repainting) against `layerloom train` headless,
same template and settings, alternating in one run.

Run:  python tests/benchmarks/bench_live_plots.py [--template cnn] [--epochs 40] [--runs 9]

The app runs offscreen (QT_QPA_PLATFORM=offscreen unless a display is set): the window is
shown, the Live plots dock is visible and repaints at its normal rate, node colours update.
Both sides report the Trainer's own samples/s (training loop wall time, the same measure).
Each run is a pair, app then CLI or CLI then app (alternating), so both sides of a pair see
the same load from the machine's other tenants; gui_vs_cli_ratio is the median of the pairs'
ratios (ratio_of_medians is reported beside it).
Last line of stdout: a JSON object with gui_vs_cli_ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
# The window keeps one core for itself (runtime.worker.keep_window_core); the CLI runs get
# every core, as from a terminal.
ALL_CORES = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None


def _all_cores():
    if ALL_CORES:
        os.sched_setaffinity(0, ALL_CORES)


def cli_run(project_file: Path, threads: int | None = None) -> float:
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    r = subprocess.run([sys.executable, "-m", "app.cli", "train", str(project_file), "--json",
                        "--device", "cpu", "--no-progress"], cwd=ROOT, capture_output=True,
                       text=True, env=env, preexec_fn=_all_cores if ALL_CORES else None)
    return json.loads(r.stdout.strip().splitlines()[-1])["samples_per_second"]


def gui_run(app, win, project_file: Path) -> tuple[float, int, float]:
    """samples/s, the number of plot repaints, and the longest event-loop gap (ms)."""
    from PySide6.QtCore import QTimer
    win.open_path(project_file, ask=False)
    done = {}
    gaps = []
    last = [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now
    probe = QTimer(interval=10)
    probe.timeout.connect(tick)
    repaints = [0]
    span = {}  # wall time of the first and last training event: the rate is over training
    orig = win.plots.refresh

    def counted():
        changed = orig()
        if "first" in span and "last" not in span:
            repaints[0] += bool(changed)
        return changed
    win.plots.refresh = counted

    from PySide6.QtCore import QEventLoop
    loop = QEventLoop()  # the app's own event loop: it sleeps until something arrives

    def on_event(ev):
        if ev.kind == "step" and "first" not in span:
            span["first"] = time.perf_counter()
        if ev.kind in ("finished", "failed", "stopped"):
            span["last"] = time.perf_counter()
            done["ev"] = ev

    def on_state(state):
        if state == "idle" and "ev" in done:
            loop.quit()
    win.trainer.event.connect(on_event)
    win.trainer.stateChanged.connect(on_state)
    assert win.start_training()
    probe.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    loop.exec()
    gui_cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    probe.stop()
    win.trainer.stateChanged.disconnect(on_state)
    win.trainer.event.disconnect(on_event)
    win.plots.refresh = orig
    ev = done["ev"]
    if ev.kind != "finished":
        raise SystemExit(f"GUI run did not finish: {ev}")
    rate = repaints[0] / max(span["last"] - span["first"], 1e-9)
    return ev.samples_per_s, rate, max(gaps) * 1e3, gui_cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--template", default="cnn")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--cli-threads", type=int, default=None,
                    help="limit the CLI's torch threads (to compare at equal thread counts)")
    args = ap.parse_args()
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("LAYERLOOM_HOME", tempfile.mkdtemp())
    from graph.project import load
    folder = Path(tempfile.mkdtemp())
    project = load(ROOT / "templates" / f"{args.template}.json")
    project.training.epochs = args.epochs
    project.training.device = "cpu"
    pf = folder / f"{args.template}.json"
    project.save(pf)

    from PySide6.QtWidgets import QApplication
    from app.mainwindow import MainWindow
    app = QApplication.instance() or QApplication([])
    win = MainWindow()
    win.resize(1600, 1000)
    win.show()
    win.trainer.ensure_worker()
    while not win.trainer.devices:  # the worker has loaded torch, as after the app's start
        app.processEvents()
        time.sleep(0.01)
    gui, cli, repaint_rates, max_gaps, gui_cpus = [], [], [], [], []
    for r in range(args.runs):
        order = [("gui", None), ("cli", None)] if r % 2 == 0 else [("cli", None), ("gui", None)]
        for side, _ in order:
            if side == "cli":
                cli.append(cli_run(pf, args.cli_threads))
            else:
                rate, repaint_rate, gap, cpu = gui_run(app, win, pf)
                gui_cpus.append(cpu)
                gui.append(rate)
                repaint_rates.append(repaint_rate)
                max_gaps.append(gap)
        print(f"run {r + 1}: GUI {gui[-1]:,.0f} samples/s ({repaint_rates[-1]:.1f} plot "
              f"repaints/s, longest event-loop gap {max_gaps[-1]:.0f} ms, window process "
              f"{gui_cpus[-1] * 100:.0f}% of a core), CLI {cli[-1]:,.0f} samples/s, "
              f"ratio {gui[-1] / cli[-1]:.3f}")
    win.doc.undo.setClean()
    win.close()
    pairs = [g / c for g, c in zip(gui, cli)]
    ratio = statistics.median(pairs)
    from runtime.worker import train_cores, train_threads
    print(json.dumps({"template": args.template, "epochs": args.epochs, "runs": args.runs,
                      "app_train_threads": train_threads(),
                      "app_train_cores": sorted(train_cores() or []) or "any",
                      "cli_threads": args.cli_threads or "default",
                      "gui_samples_per_s": round(statistics.median(gui), 1),
                      "cli_samples_per_s": round(statistics.median(cli), 1),
                      "plot_repaints_per_s": round(statistics.median(repaint_rates), 1),
                      "max_event_loop_gap_ms": round(max(max_gaps), 1),
                      "window_cpu_share": round(statistics.median(gui_cpus), 3),
                      "pair_ratios": [round(x, 3) for x in pairs],
                      "ratio_of_medians": round(statistics.median(gui) / statistics.median(cli), 4),
                      "gui_vs_cli_ratio": round(ratio, 4)}))


if __name__ == "__main__":
    main()
