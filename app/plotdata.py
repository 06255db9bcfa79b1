"""The data behind the live plots, fed by training events (no Qt here).

Buffers grow by doubling (pyqtgraph's scrolling-plot pattern) so a run of 100,000 steps
costs amortised O(1) per point; the layer × time heatmap keeps a fixed number of columns and
halves its time resolution when full, so it never grows past a few hundred columns.
"""
from __future__ import annotations

import math
import time

import numpy as np


class Series:
    """Points of one curve. `plot_data()` gives at most ~MAX_PLOT points: past that, each
    bucket of raw points is kept as its minimum and maximum (peak decimation), computed as
    the data arrives, so a repaint costs the same at 1,000 and at 1,000,000 steps."""

    MAX_PLOT = 4000

    def __init__(self, capacity: int = 256):
        self.x = np.empty(capacity)
        self.y = np.empty(capacity)
        self.n = 0
        self._bucket = 1  # raw points per bucket
        self._done = 0  # raw points folded into buckets
        self._px: list[float] = []  # bucket points (2 per bucket: its min and max, in x order)
        self._py: list[float] = []

    def append(self, x: float, y: float) -> None:
        if self.n == len(self.x):
            self.x = np.resize(self.x, 2 * self.n)
            self.y = np.resize(self.y, 2 * self.n)
        self.x[self.n], self.y[self.n] = x, y
        self.n += 1

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        return self.x[:self.n], self.y[:self.n]

    def __len__(self) -> int:
        return self.n

    def plot_data(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n <= self.MAX_PLOT:
            return self.data()
        if self._bucket == 1:  # first time past the limit
            self._bucket = max(2, self.n // (self.MAX_PLOT // 4))
        b = self._bucket
        while self._done + b <= self.n:  # fold the complete buckets that arrived
            xs = self.x[self._done:self._done + b]
            ys = self.y[self._done:self._done + b]
            ok = np.isfinite(ys)
            if ok.any():
                i, j = int(np.nanargmin(np.where(ok, ys, np.nan))), int(np.nanargmax(np.where(ok, ys, np.nan)))
                for k in sorted({i, j}):
                    self._px.append(xs[k])
                    self._py.append(ys[k])
            self._done += b
            if len(self._px) > self.MAX_PLOT:  # too many: buckets twice as wide
                self._merge()
                b = self._bucket
        tail = slice(self._done, self.n)
        x = np.concatenate([np.asarray(self._px), self.x[tail]])
        y = np.concatenate([np.asarray(self._py), self.y[tail]])
        if x[-1] != self.x[self.n - 1]:  # a live curve ends at the newest point
            x = np.append(x, self.x[self.n - 1])
            y = np.append(y, self.y[self.n - 1])
        return x, y

    def _merge(self) -> None:
        px, py = self._px, self._py
        out_x, out_y = [], []
        for k in range(0, len(px), 4):  # 4 points = 2 old buckets: keep their min and max
            xs, ys = px[k:k + 4], py[k:k + 4]
            i, j = ys.index(min(ys)), ys.index(max(ys))
            for m in sorted({i, j}):
                out_x.append(xs[m])
                out_y.append(ys[m])
        self._px, self._py = out_x, out_y
        self._bucket *= 2


SMOOTH_PER_STEP = 0.9  # the smoothed loss keeps 0.9 of itself per training step


class Smoother:
    """An exponential moving average by training steps, not by logged points, debiased as
    TensorBoard's smoothing is: a point `gap` steps after the last keeps w**gap of the old
    average (w per step), so the curve follows the loss at any logging interval; dividing by
    the weight accumulated so far removes the pull towards the zero it starts from. Logged at
    every step it equals TensorBoard's smoothing with weight w."""

    def __init__(self, per_step: float = SMOOTH_PER_STEP):
        self.w = per_step
        self.last_step: float | None = None
        self.avg = 0.0
        self.weight = 0.0  # the part of the average that comes from the data

    def add(self, step: float, value: float) -> float:
        gap = 1.0 if self.last_step is None else max(step - self.last_step, 1.0)
        keep = self.w ** gap
        self.avg = keep * self.avg + (1 - keep) * value
        self.weight = keep * self.weight + (1 - keep)
        self.last_step = step
        return self.avg / self.weight


def smoothed(steps, values, per_step: float = SMOOTH_PER_STEP) -> np.ndarray:
    """Smoother over whole columns (a finished run's curve); non-finite values are left out
    of the average and shown as they are."""
    sm = Smoother(per_step)
    return np.array([sm.add(float(s), float(v)) if math.isfinite(v) else v
                     for s, v in zip(steps, values)], dtype=float)


class HeatMap:
    """log10 gradient norm per layer (rows) over time (columns)."""

    def __init__(self, layers: list[str], columns: int = 320):
        self.layers = list(layers)
        self.columns = columns
        self.values = np.full((len(layers), columns), np.nan)
        self.counts = np.zeros(columns)
        self.used = 0  # columns filled
        self.per_column = 1  # GradStats events per column
        self.first_step: float | None = None
        self.last_step = 0.0

    def add(self, step: int, norms: dict[str, float]) -> None:
        if self.first_step is None:
            self.first_step = step
        self.last_step = step
        col = self.used
        if self.counts[col] >= self.per_column:
            col += 1
            if col == self.columns:
                self._halve()
                col = self.used + 1
            self.used = col
        row = np.array([math.log10(norms[l]) if norms.get(l, 0) > 0 else np.nan
                        for l in self.layers])
        k = self.counts[col]
        old = self.values[:, col]
        self.values[:, col] = np.where(np.isnan(old), row, (old * k + row) / (k + 1))
        self.counts[col] += 1

    def _halve(self) -> None:
        """Merge neighbouring columns: half the columns, each covering twice the steps."""
        v, c = self.values, self.counts
        pairs = self.columns // 2
        w = np.maximum(c[0:2 * pairs:2] + c[1:2 * pairs:2], 1)
        a = np.nan_to_num(v[:, 0:2 * pairs:2]) * c[0:2 * pairs:2]
        b = np.nan_to_num(v[:, 1:2 * pairs:2]) * c[1:2 * pairs:2]
        merged = (a + b) / w
        merged[:, (c[0:2 * pairs:2] + c[1:2 * pairs:2]) == 0] = np.nan
        self.values = np.full_like(v, np.nan)
        self.values[:, :pairs] = merged
        self.counts = np.zeros_like(c)
        self.counts[:pairs] = c[0:2 * pairs:2] + c[1:2 * pairs:2]
        self.used = pairs - 1
        self.per_column *= 2

    def image(self) -> np.ndarray:
        return self.values[:, :self.used + 1]


VANISHING, EXPLODING = 1e-4, 1e3  # gradient norms the words below speak of
WATCH_SAMPLES = 3  # the first gradient samples a run is judged by


def gradient_warning(samples: list[dict[str, float]]) -> str | None:
    """What the first gradient samples of a run say, in words, or None when they look
    healthy: every layer's gradient near zero (vanishing: the weights barely move) or some
    layer's very large (exploding). The seed notes' remedies follow."""
    if len(samples) < WATCH_SAMPLES:
        return None
    first = samples[:WATCH_SAMPLES]
    values = [v for s in first for v in s.values()]
    if not values:
        return None
    if all(math.isfinite(v) and v < VANISHING for v in values):
        how = "exactly zero" if all(v == 0 for v in values) else f"below {VANISHING:g}"
        return (f"Gradients are vanishing: every layer's gradient norm is {how} from the "
                "start, so the weights barely change and the model will not learn. Usual "
                "causes: features on very different scales (turn on “standardise features” "
                "in the Training panel's Data section), saturated sigmoid / tanh / softmax "
                "units (try ReLU, or He initialisation), or a learning rate far too low.")
    worst = max(values, key=lambda v: v if math.isfinite(v) else math.inf)
    if not math.isfinite(worst) or worst > EXPLODING:
        return (f"Gradients are exploding: a layer's gradient norm reached "
                f"{worst:.3g} in the first steps. Try gradient clipping (e.g. 1.0), a lower "
                "learning rate, standardised features or batch normalization.")
    return None


class LiveData:
    """Everything the plots show, and the progress line."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.loss = Series()
        self.smooth = Series()
        self.lr = Series()
        self.data_wait = Series()  # the share of each log window's step time spent waiting
        self.epoch = {}  # metric name -> Series over steps (train and val_…)
        self.grads: dict[str, Series] = {}
        self.heat: HeatMap | None = None
        self.layers: list[str] = []
        self.last_norms: dict[str, float] = {}
        self.total_steps = 0
        self.expected_grad_samples = 0
        self.step = 0
        self.samples_per_s = 0.0
        self.started_at: float | None = None
        self._smoother = Smoother()
        self._rate_mark: tuple[float, int] | None = None
        self.steps_per_s = 0.0
        # Recurrent layers: |∂L/∂x_t| per time step t, as first seen and as last seen.
        self.time_first: dict[str, list[float]] = {}
        self.time_last: dict[str, list[float]] = {}
        self.time_step = 0  # the training step of time_last
        self.time_version = 0
        self.first_grads: list[dict[str, float]] = []  # the run's first gradient samples
        self.warning: str | None = None  # gradient_warning() of them, shown by the plots
        # Named values each step carries (a GAN's d_loss.loss, g_loss.loss, D(x), D(G(z)))
        self.values: dict[str, Series] = {}
        self.samples = None  # the latest Samples event (a generator's samples)
        self.samples_version = 0
        # The live decision boundary (runtime/watch_boundary.py): the latest frame, and the
        # run's first, which holds the points, their true classes and the names
        self.boundary = self.boundary_first = None
        self.boundary_version = 0
        # Activation statistics (runtime/watch_activations.py): each ReLU-like layer's share
        # of dead units over steps, and the latest event (which names them)
        self.dead: dict[str, Series] = {}
        self.activations = None
        self.activations_version = 0
        # The time left: the step rate (an average over windows of >= 0.5 s, the first after
        # a start or a resume left out: it holds the warm-up) and each epoch end's evaluation
        self.epochs = 0
        self.steps_per_epoch = 0
        self.epochs_done = 0
        self._rates: list[float] = []
        self._warm = False
        self._last_step_at: float | None = None
        self.eval_seconds: list[float] = []
        self.resumed_at: int | None = None  # the step a resumed run went on from
        self.dirty = True

    def resume_from(self, steps: dict, epochs: dict, grads: dict) -> None:
        """The run's history (its steps.csv, epochs.csv and grads.csv columns), drawn again
        when the resumed run starts: the plots go on from where it stopped."""
        self._history = (steps, epochs, grads)

    def _replay(self, steps: dict, epochs: dict, grads: dict) -> None:
        """The run's logged rows fed again as the events that wrote them, in step order;
        what measures time (the step rate, the evaluations) starts afresh after them."""
        from runtime.events import EpochEnd, GradStats, Step
        fixed = ("step", "epoch", "loss", "lr", "samples_per_s", "data_wait")

        def row(cols, i, skip):
            return {k: v[i] for k, v in cols.items() if k not in skip and math.isfinite(v[i])}
        evs = []
        for i, x in enumerate(steps.get("step") or []):
            nan = float("nan")
            get = lambda k: steps[k][i] if k in steps else nan  # noqa: E731
            evs.append((x, 0, Step(int(x), int(get("epoch")) if math.isfinite(get("epoch"))
                                   else 0, get("loss"), get("lr"), 0.0, row(steps, i, fixed),
                                   get("data_wait") if math.isfinite(get("data_wait")) else 0.0)))
        for i, x in enumerate(grads.get("step") or []):
            evs.append((x, 1, GradStats(int(x), row(grads, i, ("step",)))))
        for i, x in enumerate(epochs.get("step") or []):
            evs.append((x, 2, EpochEnd(i + 1, int(x), row(epochs, i, ("epoch", "step",
                                                                        "seconds")), 0.0)))
        for _x, _order, ev in sorted(evs, key=lambda t: t[:2]):
            self.feed(ev)
        self._rate_mark, self._rates, self._warm = None, [], False
        self._last_step_at, self.eval_seconds, self.steps_per_s = None, [], 0.0
        self.first_grads, self.warning = [], None  # judged on this run's own first steps
        if steps.get("step"):
            self.resumed_at = int(steps["step"][-1])

    def start(self, ev) -> None:
        history = getattr(self, "_history", None)
        self._history = None
        self.reset()
        self.epochs, self.steps_per_epoch = ev.epochs, ev.steps_per_epoch
        self.layers = list(ev.layers)
        self.heat = HeatMap(self.layers)
        self.grads = {l: Series() for l in self.layers}
        self.total_steps = ev.total_steps
        # How many gradient samples the run will send: the heatmap's frame is sized to it.
        per_epoch = math.ceil(ev.steps_per_epoch / max(ev.log_every, 1)) + 1
        self.expected_grad_samples = min(ev.total_steps // max(ev.log_every, 1) + 1,
                                         per_epoch * ev.epochs)
        self.started_at = time.perf_counter()
        if history is not None:
            self._replay(*history)

    def feed(self, ev) -> None:
        k = ev.kind
        if k == "started":
            self.start(ev)
        elif k == "step":
            self.step = ev.step
            self.samples_per_s = ev.samples_per_s
            if math.isfinite(ev.loss):
                self.loss.append(ev.step, ev.loss)
                self.smooth.append(ev.step, self._smoother.add(ev.step, ev.loss))
            self.lr.append(ev.step, ev.lr)
            self.data_wait.append(ev.step, getattr(ev, "data_wait", 0.0))
            for name, v in getattr(ev, "values", {}).items():
                if math.isfinite(v):
                    self.values.setdefault(name, Series()).append(ev.step, v)
            now = time.perf_counter()
            self._last_step_at = now
            if self._rate_mark is None:
                self._rate_mark = (now, ev.step)
            elif now - self._rate_mark[0] >= 0.5:
                t0, s0 = self._rate_mark
                rate = (ev.step - s0) / (now - t0)
                self._rate_mark = (now, ev.step)
                if self._warm:  # the first window after a (re)start holds the warm-up
                    self._rates = (self._rates + [rate])[-8:]
                    self.steps_per_s = float(np.median(self._rates))
                self._warm = True
        elif k == "gradstats":
            self.last_norms = dict(ev.norms)
            if getattr(ev, "time_norms", None):
                for n, v in ev.time_norms.items():
                    self.time_first.setdefault(n, list(v))
                    self.time_last[n] = list(v)
                self.time_step = ev.step
                self.time_version += 1
            if len(self.first_grads) < WATCH_SAMPLES:
                self.first_grads.append(dict(ev.norms))
                self.warning = gradient_warning(self.first_grads)
            elif self.warning and self.warning.startswith("Gradients are vanishing") and \
                    any(v >= VANISHING for v in ev.norms.values()):
                self.warning = None  # they recovered
            for layer, v in ev.norms.items():
                if layer in self.grads and v > 0 and math.isfinite(v):
                    self.grads[layer].append(ev.step, v)
            if self.heat is not None:
                self.heat.add(ev.step, ev.norms)
        elif k == "epochend":
            for name, v in ev.metrics.items():
                self.epoch.setdefault(name, Series()).append(ev.step, v)
            self.epochs_done += 1
            if self._last_step_at is not None:  # the evaluation after the epoch's last step
                self.eval_seconds = (self.eval_seconds
                                     + [time.perf_counter() - self._last_step_at])[-4:]
                self._rate_mark = None  # the next rate window starts after it
        elif k == "samples":
            self.samples = ev
            self.samples_version += 1
        elif k == "boundaryframe":
            if ev.points is not None:
                self.boundary_first = ev
            self.boundary = ev
            self.boundary_version += 1
        elif k == "activations":
            for layer, st in ev.layers.items():
                self.dead.setdefault(layer, Series()).append(ev.step,
                                                             st["dead"] / max(st["units"], 1))
            self.activations = ev
            self.activations_version += 1
        elif k in ("paused", "resumed"):
            self._rate_mark = None  # a pause is not training time
            self._warm = self._warm and k == "paused"
        self.dirty = True

    def eta_seconds(self) -> float | None:
        """The time left: the steps left at the measured rate, and an evaluation (as long as
        the last ones took) at each epoch end still to come and at the run's end."""
        if self.steps_per_s <= 0 or not self.total_steps:
            return None
        left = max(self.total_steps - self.step, 0)
        seconds = left / self.steps_per_s
        if self.eval_seconds and self.steps_per_epoch:
            ends = max(math.ceil(self.total_steps / self.steps_per_epoch) - self.epochs_done, 0)
            seconds += (ends + 1) * float(np.mean(self.eval_seconds))
        return seconds

    def metric_names(self) -> list[str]:
        return [n for n in self.epoch if not n.endswith("loss")]
