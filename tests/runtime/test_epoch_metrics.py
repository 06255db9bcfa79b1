"""The epoch metrics a run reports, named before it trains, and the best checkpoint's metric
chosen among them (issue 23, item 4: the detectors' best_metric 'map50' matched nothing, so
no best checkpoint was ever kept)."""
import json

import pytest

from graph.project import load
from runtime.epoch_metrics import metric_names, project_metric_names, resolve_best
from runtime.runs import RunLogger
from runtime.train import Trainer
from templates import FOLDER


SMALL = {"transformer": 300, "mask_rcnn": 60, "faster_rcnn": 60}  # quick to evaluate


def _first_epoch(name, tmp_path, **training):
    p = load(FOLDER / f"{name}.json")
    p.training.epochs = 1
    if name in SMALL:
        p.data.options["n_samples"] = SMALL[name]
    for k, v in training.items():
        setattr(p.training, k, v)
    t = Trainer(p, device="cpu", max_steps=2)
    log = RunLogger(tmp_path / "run", p, t, tensorboard=False)
    events = []
    for ev in t.run():
        log.handle(ev)
        events.append(ev)
    return p, t, events


@pytest.mark.parametrize("name", ["mlp", "cnn", "char_lstm", "gan", "gan_digits",
                                  "transformer", "mask_rcnn"])
def test_the_names_known_before_training_are_the_ones_a_run_reports(tmp_path, name):
    p, t, events = _first_epoch(name, tmp_path)
    assert events[-1].kind == "finished", events[-1]
    reported = set(next(e for e in events if e.kind == "epochend").metrics)
    c, ds = t.compiled, t.dataset
    predicted = set(metric_names(c, p.training, p.data.dataset, True, ds.classes))
    assert reported <= predicted
    extra = predicted - reported  # only APs of classes absent from the validation images
    assert all(n.startswith("val_ap50.") for n in extra), extra
    # before any data is loaded: the same, with per-class APs as a pattern
    static = set(project_metric_names(p))
    assert {n for n in reported if "ap50." not in n} <= static
    if any("ap50." in n for n in reported):
        assert "val_ap50.<class>" in static and resolve_best("ap50.circle", list(static))


def test_a_detector_keeps_its_best_epoch(tmp_path):
    """The template's best_metric is the validation mAP, and the run records it."""
    p, t, events = _first_epoch("faster_rcnn", tmp_path)
    assert p.training.best_metric == "val_map50" and t.best_metric == "val_map50"
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["best_metric"] == "val_map50"
    assert info["best_value"] is not None and info["best_epoch"] == 1


def test_a_name_without_val_means_its_validation_twin():
    names = ["loss", "val_loss", "val_map50", "val_map", "val_ap50.<class>"]
    assert resolve_best("map50", names) == "val_map50"
    assert resolve_best("ap50.circle", names) == "val_ap50.circle"
    assert resolve_best("loss", names) == "loss"
    assert resolve_best("", names) == "val_loss" and resolve_best("", ["loss"]) == "loss"
    with pytest.raises(ValueError, match="no metric 'accuracy'; its metrics are loss, "
                                         "val_loss, val_map50"):
        resolve_best("accuracy", names)


def test_a_best_metric_that_names_nothing_stops_the_run_before_it_trains(tmp_path):
    p, t, events = _first_epoch("mlp", tmp_path, best_metric="map50")
    assert [e.kind for e in events] == ["failed"]
    assert "training.best_metric: this run reports no metric 'map50'" in events[0].message
    assert "val_accuracy" in events[0].message
