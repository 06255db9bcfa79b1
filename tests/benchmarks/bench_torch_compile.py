"""training.compile (torch.compile of the objective a recipe steps) against eager training:
what it costs before the first steps and what it gains per step, for the mlp and cnn
templates (and the transformer template with --templates transformer --one-optimizer: its
optimizer record, for its lr schedule, keeps the objective eager under training.compile).

    python tests/benchmarks/bench_torch_compile.py [--device cpu|cuda] [--rounds 3]
        [--templates mlp,cnn] [--steps 100] [--warmup 20] [--log-every 10]
(--device cuda without a CUDA device: the last line is {"skipped": "no CUDA", ...}.)

Each template is trained as shipped (its data, batch size and optimizer) by the app's Trainer,
compile off and on in alternating order, --rounds times, in one process. Per run:
  * time to the first steps: from the Trainer's creation to its first Step event at or after
    step --warmup and after the first epoch end (data, the graph, the compile trial of
    runtime/torch_compile.py, the first steps, where a compiled run also compiles its
    backward, the epoch's last, smaller batch and the validation under no_grad: each a new
    graph); the compile cost is the compiled run's figure less the eager run's of the round.
  * steady samples/s: then, over --steps steps of each run, the median of its windows'
    samples/s (the steps between two Step events, --log-every of them, each ended by the
    loss read, the sync point on a GPU), leaving out the windows that hold an epoch end
    (validation runs there) or its short last batch. The two
    runs of a round are driven window by window in turn (their event generators
    interleaved), so that a neighbour's load falls on both alike; the round's ratio is the
    median of the window pairs' compiled/eager ratios.
Round 1 of a compiled run is cold: TorchInductor's caches are a fresh temporary folder (unless
--keep-cache). Dynamo's in-memory cache is reset before each compiled run, so later rounds
trace again but find the kernels in the on-disk cache: what a user's second run of the same
graph meets. After each template, stdout has a JSON line of the figures so far (`not_run`:
the templates still to come); the last one is the whole result: per template, each mode's
median time to the first steps and steady samples/s, the compiled/eager ratio of the steady
rate (median of the rounds' ratios), the cold and warm compile costs, and any note the
compiled run gave (a fallback to eager: then the comparison measures nothing).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _cache_dir(keep: bool) -> None:
    """TorchInductor's caches in a fresh folder (a cold first compile), set before torch's
    import reads the variable."""
    if not keep and "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench_tc_")


class Run:
    """One training run of `template`, driven by its Trainer's events: `start()` to the end of
    its first steps, then `window()` for each steady window's samples/s."""

    def __init__(self, template: str, device: str, compile_: bool, args):
        import torch
        from graph.project import load
        from runtime.train import Trainer

        if compile_:
            torch._dynamo.reset()
        self.device, self.args, self.torch = device, args, torch
        p = load(ROOT / "templates" / f"{template}.json")
        p.training.compile = compile_
        if args.one_optimizer:  # optimizer records keep the objective eager (the transformer's)
            p.training.optimizers = []
        p.training.epochs = 10_000  # the benchmark ends the run
        self.batch_size = p.training.batch_size
        self.t0 = time.perf_counter()
        self.trainer = Trainer(p, device=device, max_steps=10_000_000, log_every=args.log_every)
        self.events = self.trainer.run()
        self.template, self.notes, self.started_s = template, [], None
        self.first_s = self.first_step = None
        self.last_step = 0

    def _sync(self):
        if self.device == "cuda":
            self.torch.cuda.synchronize()

    def start(self) -> None:
        epoch_ends = 0
        for ev in self.events:
            if ev.kind == "started":
                self.started_s, self.notes = time.perf_counter() - self.t0, list(ev.notes)
            elif ev.kind == "epochend":
                epoch_ends += 1
            elif ev.kind == "failed":
                raise SystemExit(f"{self.template}: training failed: {ev.message}")
            elif ev.kind == "step":
                self.last_step = ev.step
                if ev.step >= self.args.warmup and epoch_ends:
                    self._sync()
                    self.first_s, self.first_step = time.perf_counter() - self.t0, ev.step
                    return

    def window(self) -> tuple[float, int]:
        """The next full window of training steps alone (--log-every steps, no epoch end):
        its samples/s, timed inside this run's generator only (the other run of the round
        takes its turns between them), and its steps."""
        epoch_end, seconds = False, 0.0
        while True:
            t = time.perf_counter()
            ev = next(self.events, None)
            if ev is not None and ev.kind == "step":
                self._sync()
            seconds += time.perf_counter() - t
            if ev is None:
                raise SystemExit(f"{self.template}: the run ended early")
            if ev.kind == "epochend":
                epoch_end = True
            elif ev.kind == "failed":
                raise SystemExit(f"{self.template}: training failed: {ev.message}")
            elif ev.kind == "step":
                steps, self.last_step = ev.step - self.last_step, ev.step
                if not epoch_end and steps == self.args.log_every:
                    return steps * self.batch_size / seconds, steps
                epoch_end, seconds = False, 0.0

    def close(self) -> None:
        self.events.close()


def one_round(template: str, args, compiled_first: bool) -> dict:
    """Both runs started one after the other, then their steady windows interleaved (one of
    each in turn, so that a neighbour's load falls on both alike): each mode's median window
    rate and the median of the pairs' compiled/eager ratios."""
    runs = {}
    for c in ((True, False) if compiled_first else (False, True)):
        runs[c] = Run(template, args.device, c, args)
        runs[c].start()
    rates: dict[bool, list[float]] = {True: [], False: []}
    steps = 0
    while steps < args.steps:
        for c in (True, False):
            rate, n = runs[c].window()
            rates[c].append(rate)
        steps += n
    for r in runs.values():
        r.close()
    pairs = [a / b for a, b in zip(rates[True], rates[False])]
    return {c: {"first_steps_s": runs[c].first_s, "first_step": runs[c].first_step,
                "started_s": runs[c].started_s, "notes": runs[c].notes,
                "samples_per_s": statistics.median(rates[c]), "windows": len(rates[c]),
                "batch_size": runs[c].batch_size} for c in (True, False)} | {
        "ratio": statistics.median(pairs)}


def bench(template: str, args) -> dict:
    runs: dict[bool, list[dict]] = {False: [], True: []}
    ratios, costs = [], []
    for r in range(args.rounds):
        got = one_round(template, args, compiled_first=r % 2 == 0)  # cold: round 1
        for c in (True, False):
            runs[c].append(got[c])
            print(f"{template} round {r + 1} compile={'on ' if c else 'off'}: "
                  f"first {got[c]['first_step']} steps after {got[c]['first_steps_s']:.2f} s "
                  f"(Started after {got[c]['started_s']:.2f} s), steady "
                  f"{got[c]['samples_per_s']:,.0f} samples/s (median of {got[c]['windows']} "
                  "windows)" + (f"; notes: {got[c]['notes']}" if got[c]["notes"] else ""),
                  flush=True)
        print(f"{template} round {r + 1}: compiled/eager {got['ratio']:.3f}", flush=True)
        ratios.append(got["ratio"])
        costs.append(got[True]["first_steps_s"] - got[False]["first_steps_s"])

    def med(c, key):
        return round(statistics.median(x[key] for x in runs[c]), 3)

    return {"batch_size": runs[False][0]["batch_size"],
            "first_steps": runs[False][0]["first_step"],
            "eager": {"first_steps_s": med(False, "first_steps_s"),
                      "samples_per_s": round(med(False, "samples_per_s"), 1)},
            "compiled": {"first_steps_s": med(True, "first_steps_s"),
                         "samples_per_s": round(med(True, "samples_per_s"), 1)},
            "ratio": round(statistics.median(ratios), 3),
            "ratios": [round(x, 3) for x in ratios],
            "compile_cost_cold_s": round(costs[0], 2),
            "compile_cost_warm_s": (round(statistics.median(costs[1:]), 2)
                                    if len(costs) > 1 else None),
            "notes": sorted({n for x in runs[True] for n in x["notes"]})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--templates", default="mlp,cnn")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100, help="timed steps after the warm-up")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--one-optimizer", action="store_true",
                    help="drop the project's optimizer records (with them the run is not "
                         "compiled: the transformer template's lr schedule), the training "
                         "settings' own optimizer instead")
    ap.add_argument("--keep-cache", action="store_true",
                    help="TorchInductor's usual cache folder (a warm first compile)")
    args = ap.parse_args()
    _cache_dir(args.keep_cache)
    import torch
    if args.device == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"skipped": "no CUDA", "device": args.device}))
        return
    name = torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() \
        or platform.machine()
    out = {"device": args.device, "device_name": name, "cpus": os.cpu_count(),
           "torch": torch.__version__, "date": datetime.date.today().isoformat(),
           "config": {k: v for k, v in vars(args).items() if k != "device"}}
    templates = [s.strip() for s in args.templates.split(",") if s.strip()]
    for k, template in enumerate(templates):
        t0 = time.perf_counter()
        out[template] = bench(template, args)
        out[template]["bench_s"] = round(time.perf_counter() - t0, 1)
        # after each template, the figures so far (a time limit that ends the run keeps them)
        print(json.dumps({**out, "not_run": templates[k + 1:]}), flush=True)


if __name__ == "__main__":
    main()
