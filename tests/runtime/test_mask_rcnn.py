"""Faster and Mask R-CNN as graphs (issue 14): the five losses and the mask metrics per
epoch, the exports (Python file, TorchScript archive in a fresh process) equal to the
model, masks included, and the Try panel's instance masks."""
from __future__ import annotations

import importlib.util

import pytest
import torch

from graph.project import load
from runtime.compile import compile_graph
from runtime.train import Trainer
from templates import find
from tests.runtime.test_detection import _run_archive

LOSSES = ("rpn_cls_loss", "rpn_box_loss", "cls_loss", "box_loss", "mask_loss")


def _project(name: str):
    p = load(find(name).path)
    p.data.options.update({"n_samples": 48})
    return p


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mask_rcnn")
    p = _project("mask_rcnn")
    t = Trainer(p, max_steps=4)
    events = list(t.run())
    assert events[-1].kind == "finished", events[-1]
    t.save_checkpoint(folder / "ckpt")
    return p, t, folder / "ckpt", events


def test_five_losses_and_mask_metrics_every_epoch(trained):
    _p, _t, _ck, events = trained
    fin = events[-1].metrics
    epochs = [e for e in events if e.kind == "epochend"]
    for n in LOSSES:  # each loss its own curve, in training and on the held-out images
        assert fin[f"{n}.loss"] > 0 and f"val_{n}.loss" in epochs[-1].metrics, (n, fin)
    for k in ("val_map50", "val_map", "val_mask_map50", "val_mask_map", "val_mask_iou"):
        assert 0 <= fin[k] <= 1, (k, fin)
    assert fin["val_mask_map"] <= fin["val_mask_map50"]


def _args(t, rows):
    return (t.dataset.fields["image"][rows],)


def test_python_export_runs_alone_and_equals_the_model_masks_included(trained, tmp_path):
    from runtime.export import export
    p, t, ckpt, _ = trained
    out = tmp_path / "mask_rcnn.py"
    export(p, ckpt, "python", out)
    text = out.read_text()
    assert "import runtime" not in text and "def paste_masks(" in text
    spec = importlib.util.spec_from_file_location("mask_rcnn_export", out)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model = mod.load()
    t.compiled.model.eval()
    with torch.no_grad():
        want, got = t.compiled.model(*_args(t, slice(0, 6))), model(*_args(t, slice(0, 6)))
    assert len(want) == 4  # boxes, scores, labels, masks
    for a, b in zip(want, got):
        assert torch.equal(a, b)


@pytest.mark.slow  # over 4.5 s: the full tier (the everyday one stays under 10 min)
def test_torchscript_export_equals_the_model_masks_included(trained, tmp_path):
    from runtime.export import export
    p, t, ckpt, _ = trained
    out = tmp_path / "mask_rcnn.pt"
    export(p, ckpt, "torchscript", out)
    t.compiled.model.eval()
    for rows in (slice(0, 6), slice(6, 9)):  # another batch size than traced
        args = _args(t, rows)
        with torch.no_grad():
            want = t.compiled.model(*args)
        got = _run_archive(out, args)
        assert want[3].shape[1:] == (20, 64, 64)
        for a, b in zip(want, got):
            assert a.shape == b.shape and torch.allclose(a, b, atol=1e-5), (a - b).abs().max()


def test_faster_rcnn_torchscript_export_proposes_in_the_archive(tmp_path):
    from runtime.data import load_dataset
    from runtime.export import export
    p = _project("faster_rcnn")
    out = tmp_path / "faster.pt"
    export(p, None, "torchscript", out)
    images = load_dataset(p.data.dataset, p.data.options, p.training.seed).fields["image"]
    c = compile_graph(p.graph)
    c.model.load_state_dict(torch.jit.load(out).state_dict())
    c.model.eval()
    args = (images[:5],)
    with torch.no_grad():
        want = c.model(*args)
    for a, b in zip(want, _run_archive(out, args)):
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-5)


def test_the_tryout_gives_instance_masks(trained):
    from runtime.tryout import Tryout
    p, _t, ckpt, _ = trained
    tr = Tryout(p, None, ckpt)
    d = tr.detections(0)
    assert d.masks is not None and d.masks.shape == (len(d.boxes), 64, 64)
    assert d.true_masks is not None and d.true_masks.shape == (len(d.true_boxes), 64, 64)
    assert ((d.masks >= 0) & (d.masks <= 1)).all()
