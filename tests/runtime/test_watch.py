"""The trainer's watchers (runtime/watch.py): the live decision boundary of a classifier of
2-D points and the per-layer activation statistics with dead units, each against a direct
computation on the model as it was when the event was sent (the trainer is suspended at the
event)."""
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from graph.project import load
from runtime import watch
from runtime.runs import read_csv, run_with_logging
from runtime.train import Trainer, split
from runtime.watch import Throttle
from runtime.watch_activations import DeadReport, dead_summary

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def _mlp(**training):
    p = load(TEMPLATES / "mlp.json")
    for k, v in training.items():
        setattr(p.training, k, v)
    return p


def _val_points(p):
    """The mlp template's validation points and labels, as the trainer splits them."""
    from runtime.data import load_dataset
    ds = load_dataset(p.data.dataset, p.data.options, p.training.seed)
    val, _ = split(len(ds), p.training.seed, p.training.val_split)
    return ds.fields["x"][val].float(), ds.fields["y"][val]


def _cells(frame):
    a, b, c, d = frame.extent
    g = frame.size
    x1 = torch.tensor([a + (j + 0.5) / g * (b - a) for j in range(g)], dtype=torch.float64)
    x2 = torch.tensor([c + (i + 0.5) / g * (d - c) for i in range(g)], dtype=torch.float64)
    rows, cols = torch.meshgrid(x2, x1, indexing="ij")  # row i up x2, column j along x1
    return torch.stack([cols, rows], -1).reshape(-1, 2).float()


def test_each_boundary_frame_is_the_models_argmax_on_its_grid():
    p = _mlp(epochs=2)
    t = Trainer(p, watch=("boundary",))
    frames = []
    points, labels = _val_points(p)
    for ev in t.run():
        assert ev.kind not in ("failed", "activations"), ev
        if ev.kind != "boundaryframe":
            continue
        frames.append(ev)
        model = t.compiled.model  # as it is now: the trainer waits at this event
        model.eval()
        with torch.no_grad():
            want = model(_cells(ev)).argmax(1).reshape(ev.size, ev.size).numpy()
            want_pts = model(points).argmax(1).numpy()
        model.train()
        assert (ev.grid() == want).all(), f"step {ev.step}"
        assert (ev.point_classes() == want_pts).all()
        assert pickle.loads(pickle.dumps(ev)) == ev  # it crosses the worker's pipe
    assert len(frames) >= 2 and frames[-1].final and frames[-1].step == t.total_steps
    assert not any(f.final for f in frames[:-1])
    first = frames[0]
    assert first.step == 1 and first.size == 64 and first.n_classes == 2
    assert np.allclose(first.points, points.numpy()) and first.labels == labels.tolist()
    assert first.axes == ("x₁", "x₂") and first.class_names == ["0", "1"]
    assert all(f.points is None and f.labels is None for f in frames[1:])  # the points once
    a, b, c, d = first.extent  # the points' range with a tenth of it on each side
    lo, hi = points.min(0).values, points.max(0).values
    assert a < float(lo[0]) and b > float(hi[0]) and c < float(lo[1]) and d > float(hi[1])
    assert {f.extent for f in frames} == {first.extent}


def test_the_dead_units_of_an_activations_event_equal_a_direct_count(tmp_path):
    """Units of fc1 whose weights are zero and bias very negative never fire (and, with no
    gradient through a dead ReLU, stay so): the event names exactly the units a direct count
    over the same validation samples finds."""
    from safetensors.torch import save_file
    from runtime.compile import compile_graph
    p = _mlp(epochs=2)
    state = {k: v.clone() for k, v in compile_graph(p.graph).modules.state_dict().items()}
    killed = [3, 17, 40]
    state["fc1.bias"][killed] = -100.0
    state["fc1.weight"][killed] = 0.0
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "w.safetensors")
    t = Trainer(p, max_steps=30, initial_weights=tmp_path / "w.safetensors",
                watch=("activations",))
    points, _ = _val_points(p)
    events = []
    for ev in t.run():
        assert ev.kind not in ("failed", "boundaryframe"), ev
        if ev.kind != "activations":
            continue
        events.append(ev)
        m = t.compiled.modules
        with torch.no_grad():
            h1 = torch.relu(m.fc1(points))
            h2 = torch.relu(m.fc2(h1))
        for name, h in (("relu1", h1), ("relu2", h2)):
            s = ev.layers[name]
            direct = [i for i in range(h.shape[1]) if not (h[:, i] > 0).any()]
            assert s["dead_units"] == direct and s["dead"] == len(direct), name
            assert s["units"] == 64 and not s["channels"]
            assert abs(s["mean"] - float(h.mean())) < 1e-5
            assert abs(s["std"] - float(h.std())) < 1e-5
        assert set(killed) <= set(ev.layers["relu1"]["dead_units"])
        assert ev.samples == len(points) and set(ev.layers) == {"relu1", "relu2"}
        assert pickle.loads(pickle.dumps(ev)) == ev
    assert events and events[-1].step == 30  # always at the run's last step
    line = DeadReport().line(events[-1])
    assert line.startswith("dead units at step 30: relu1 ")
    assert "(units 3, 17, 40" in line


@pytest.mark.slow  # two runs' worth of files: over 3 s here
def test_the_run_folder_keeps_the_activations(tmp_path):
    p = _mlp(epochs=2)
    t = Trainer(p)
    events = list(run_with_logging(t, p, tmp_path / "run"))
    acts = [e for e in events if e.kind == "activations"]
    assert acts and any(e.kind == "boundaryframe" for e in events)
    rows = (tmp_path / "run" / "activations.csv").read_text().splitlines()
    assert rows[0] == "step,epoch,layer,units,dead,mean,std,dead_units"
    assert len(rows) == 1 + 2 * len(acts)
    cols = read_csv(tmp_path / "run" / "activations.csv")
    last = acts[-1].layers["relu2"]
    assert cols["dead"][-1] == last["dead"] and cols["units"][-1] == 64
    assert rows[-1].split(",")[-1] == " ".join(str(i) for i in last["dead_units"])


@pytest.mark.slow  # the CNN's data and compile: over 3 s here
def test_no_watcher_no_event_and_none_for_models_they_do_not_fit():
    p = _mlp(epochs=1)
    kinds = {e.kind for e in Trainer(p, max_steps=20, watch=()).run()}
    assert not kinds & {"boundaryframe", "activations"} and "finished" in kinds
    # the CNN on digits: no 2-D input, so no boundary; its ReLUs get statistics
    cnn = load(TEMPLATES / "cnn.json")
    t = Trainer(cnn, max_steps=2)
    kinds = [e.kind for e in t.run()]
    assert "boundaryframe" not in kinds and "activations" in kinds
    assert [type(w).__name__ for w in t._watchers] == ["ActivationsWatcher"]


def test_the_throttle_says_yes_once_per_period(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(watch.time, "perf_counter", lambda: now[0])
    th = Throttle(0.25, share=0.03)
    said = []
    for k in range(20):  # 0.1 s apart
        now[0] = 100.0 + 0.1 * k
        said.append(th.due(force=k == 19))
    assert [k for k, s in enumerate(said) if s] == [0, 3, 6, 9, 12, 15, 18, 19]
    th.spent(5.0)  # the first cost holds the warm-up: left out
    for cost in (0.0225, 0.9, 0.01):  # the median of the recent costs: 22.5 ms allowed at
        th.spent(cost)  # most 3 % of the time, 0.75 s between
    said = []
    for k in range(20):
        now[0] = 200.0 + 0.1 * k
        said.append(th.due())
    assert [k for k, s in enumerate(said) if s] == [0, 8, 16]


def test_the_dead_units_line():
    from runtime.watch_activations import Activations

    def ev(step, dead):
        return Activations(step, 1, {"relu1": {"mean": 0.1, "std": 0.2, "units": 32,
                                               "dead": len(dead), "dead_units": dead,
                                               "channels": True}}, 256)
    r = DeadReport()
    assert r.line(ev(1, [])) is None
    assert r.line(ev(2, [1, 5, 9])) == "dead units at step 2: relu1 3/32 (ch 1, 5, 9)"
    assert r.line(ev(3, [1, 5, 9])) is None  # said once
    assert r.line(ev(4, [])) == "dead units at step 4: none left"
    many = dead_summary(ev(5, list(range(12))))
    assert many == "relu1 12/32 (ch 0, 1, 2, 3, 4, 5, 6, 7, …)"


def test_a_long_first_measurement_counts_and_a_costly_end_is_skipped(monkeypatch):
    """Activation statistics of a heavy model (a detector: seconds a measurement): the
    first cost is not left out, and the forced measurement at the run's end is made only
    when it costs at most END_SHARE of the run so far."""
    from runtime.watch_activations import END_SHARE
    now = [100.0]
    monkeypatch.setattr(watch.time, "perf_counter", lambda: now[0])
    th = Throttle(5.0, share=0.02, skip_first=False)
    assert th.affordable(END_SHARE) and th.due()
    th.spent(8.0)  # the first measurement: 8 s, waits 8 / 0.02 = 400 s before the next
    now[0] = 150.0
    assert not th.due(1.0)
    assert not th.affordable(END_SHARE)  # 8 s > a tenth of the 50 s run so far
    now[0] = 190.0
    assert th.affordable(END_SHARE) and th.due(force=True)


def test_large_inputs_are_measured_on_fewer_samples():
    """At most watch.ELEMENTS input values in all: 256 samples of 2 features, 42 images of
    3 x 64 x 64 (a detector's), so that one measurement stays short."""
    from types import SimpleNamespace

    from runtime.compile import compile_graph
    from runtime.watch_activations import activations_watcher
    c = compile_graph(load(TEMPLATES / "mlp.json").graph)
    for shape, n in (((2,), 256), ((3, 64, 64), 42)):
        x = torch.zeros(300, *shape)
        run = SimpleNamespace(needed=list(c.inputs), val=[x], train=[x])
        w = activations_watcher(c, run)
        assert w is not None and len(next(iter(w.inputs.values()))) == n
