"""The detectors as graphs (issue 13): what compiles into the model and the objective, the
per-epoch mAP, the Python export, and the detections the Try panel reads."""
from __future__ import annotations

import importlib.util
import warnings

import pytest
import torch

from graph.analysis import analyse
from graph.flatten import flatten
from graph.project import load
from runtime.compile import compile_graph
from runtime.train import Trainer
from templates import find

SMALL = {"n_samples": 48, "proposals": 40}


def _project(name: str):
    p = load(find(name).path)
    p.data.options.update(SMALL)
    p.graph.set_param("proposals", "count", SMALL["proposals"])
    return p


def test_wires_show_boxes_and_rois():
    a = analyse(_project("fast_rcnn").graph)
    assert str(a.out_type("proposals", "out")) == "N × 40 × 4 boxes"
    assert str(a.out_type("sample", "rois")) == "R × 5 RoIs"
    assert str(a.out_type("detect", "labels")) == "N × 100 classes (int64)"
    inner = analyse(flatten(_project("fast_rcnn").graph).graph)  # RoI pooling, in its block
    assert str(inner.out_type("roi_head.roi_pool", "y")) == "R × 64 × 7 × 7"


def test_the_model_has_no_targets_and_the_objective_no_detections():
    c = compile_graph(_project("fast_rcnn").graph)
    assert c.inputs == ["image", "proposals"]  # the truth is wired in training only
    assert c.outputs == ["boxes", "scores", "labels"]
    assert c.feeds == ["image", "proposals", "gt_boxes", "gt_labels"]
    assert "heads_detect(" not in c.objective.code and "sample_rois(" in c.objective.code
    assert "heads_detect(" in c.model.code
    assert "gt_boxes" not in c.model.code


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fast_rcnn")
    p = _project("fast_rcnn")
    t = Trainer(p, max_steps=6)
    events = list(t.run())
    assert events[-1].kind == "finished", events[-1]
    t.save_checkpoint(folder / "ckpt")
    return p, t, folder / "ckpt", events


def test_epochs_report_coco_map(trained):
    _p, _t, _ck, events = trained
    fin = events[-1]
    for k in ("val_map50", "val_map", "val_ap50.circle", "val_ap50.square",
              "val_ap50.triangle"):
        assert 0 <= fin.metrics[k] <= 1, (k, fin.metrics)
    assert fin.metrics["val_map"] <= fin.metrics["val_map50"]


def test_the_python_export_runs_alone_and_equals_the_model(trained, tmp_path):
    from runtime.export import export
    p, t, ckpt, _ = trained
    out = tmp_path / "detector.py"
    export(p, ckpt, "python", out)
    text = out.read_text()
    assert "import runtime" not in text and "from runtime" not in text
    spec = importlib.util.spec_from_file_location("detector", out)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model = mod.load()
    f = t.dataset.fields
    args = (f["image"][:8], f["proposals"][:8])
    t.compiled.model.eval()
    with torch.no_grad():
        want, got = t.compiled.model(*args), model(*args)
    for a, b in zip(want, got):
        assert torch.equal(a, b)


def test_the_tryout_gives_detections_and_the_truth(trained):
    from runtime.tryout import Tryout
    p, _t, ckpt, _ = trained
    tr = Tryout(p, None, ckpt)
    assert tr.detector
    d = tr.detections(0)
    assert d.image.shape == (3, 64, 64) and len(d.true_boxes) == len(d.true_labels) >= 1
    assert (d.true_labels > 0).all() and d.proposals.shape[1] == 4 and len(d.proposals) > 0
    assert (d.scores > 0).all() and (d.scores[:-1] >= d.scores[1:]).all()  # best first


def test_the_rcnn_template_warps_each_region():
    c = compile_graph(_project("rcnn").graph)
    a = c.analysis
    assert str(a.out_type("features.warp", "y")) == "R × 3 × 32 × 32"  # in its block
    # one CNN pass per region
    assert str(a.out_type("features.conv1", "y")) == "R × 16 × 32 × 32"
    assert c.graph.params("detect")["score"] == "sigmoid"


def test_match_without_truth_is_named():
    p = _project("fast_rcnn")
    g = p.graph
    e = g.in_edges("sample", "gt_labels")[0]
    g.disconnect(e)
    msgs = [str(i) for i in analyse(g).errors]
    assert any("'sample'" in m and "gt_labels" in m for m in msgs), msgs


def _run_archive(path, args):
    """The archive loaded by a fresh Python with nothing of ours imported: torch alone."""
    import subprocess
    import sys
    torch.save(args, path.parent / "args.pt")
    code = ("import sys, torch; m = torch.jit.load(sys.argv[1]); "
            "a = torch.load(sys.argv[2]); torch.save(m(*a), sys.argv[3])")
    subprocess.run([sys.executable, "-c", code, str(path), str(path.parent / "args.pt"),
                    str(path.parent / "out.pt")], check=True, cwd=path.parent)
    return torch.load(path.parent / "out.pt")


@pytest.mark.slow  # over 4.5 s: the full tier (the everyday one stays under 10 min)
def test_torchscript_export_keeps_nms_and_equals_the_model(trained, tmp_path):
    from runtime.export import export
    p, t, ckpt, _ = trained
    out = tmp_path / "detector.pt"
    export(p, ckpt, "torchscript", out)
    f = t.dataset.fields
    t.compiled.model.eval()
    for rows in (slice(0, 8), slice(8, 11)):  # another batch and other images than traced
        args = (f["image"][rows], f["proposals"][rows])
        with torch.no_grad():
            want = t.compiled.model(*args)
        got = _run_archive(out, args)
        counts = (want[1] > 0).sum(1)
        assert len(set(counts.tolist())) > 1 or rows.start == 8  # NMS kept different counts
        for a, b in zip(want, got):
            assert a.shape == b.shape and torch.allclose(a, b, atol=1e-5), (a, b)


def test_torchscript_export_of_rcnn_warps_in_the_archive(tmp_path):
    from runtime.data import load_dataset
    from runtime.export import export
    p = _project("rcnn")
    out = tmp_path / "rcnn.pt"
    export(p, None, "torchscript", out)
    ds = load_dataset(p.data.dataset, p.data.options, p.training.seed).fields
    c = compile_graph(p.graph)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.load's
        c.model.load_state_dict(torch.jit.load(out).state_dict())
    c.model.eval()
    args = (ds["image"][:5], ds["proposals"][:5])
    with torch.no_grad():
        want = c.model(*args)
    for a, b in zip(want, _run_archive(out, args)):
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-5)


def test_onnx_refuses_a_detector_with_a_reason(trained, tmp_path):
    from runtime.export import ExportError, export
    p, _t, ckpt, _ = trained
    with pytest.raises(ExportError, match="non-maximum suppression.*TorchScript"):
        export(p, ckpt, "onnx", tmp_path / "d.onnx")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_proposals_report_progress_before_training_then_come_from_the_cache(tmp_path,
                                                                            monkeypatch):
    monkeypatch.setenv("LAYERLOOM_CACHE", str(tmp_path))
    p = _project("fast_rcnn")
    p.data.options["n_samples"] = 40
    events = list(Trainer(p, max_steps=1).run())
    kinds = [e.kind for e in events]
    prep = [e for e in events if e.kind == "preparing"]
    assert prep and kinds.index("started") > kinds.index("preparing")
    assert (prep[-1].done, prep[-1].total) == (40, 40) and "selective search" in prep[-1].what
    again = [e.kind for e in Trainer(p, max_steps=1).run()]
    assert "preparing" not in again and again[-1] == "finished"


# What the python export runs where numpy cannot be imported (issue 23, item 17): torch's own
# import survives that (it checks for ModuleNotFoundError), so anything of numpy's is the file's.
NO_NUMPY = '''
import sys
class _NoNumpy:
    def find_spec(self, name, path=None, target=None):
        if name == "numpy" or name.startswith("numpy."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
blocker = _NoNumpy()
sys.meta_path.insert(0, blocker)
import importlib.util, torch
from safetensors.torch import load_file, save_file
spec = importlib.util.spec_from_file_location("detector", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
model = mod.load()
args = load_file(sys.argv[2])
with torch.no_grad():
    out = model(args["image"], args["proposals"])
assert "numpy" not in sys.modules
sys.meta_path.remove(blocker)  # safetensors' save_file itself takes numpy
save_file({str(i): o.contiguous() for i, o in enumerate(out)}, sys.argv[3])
'''


def test_the_python_export_needs_no_numpy(trained, tmp_path):
    """It says it needs only torch and safetensors: it runs, NMS and all, where importing
    numpy fails, and gives the model's detections."""
    import subprocess
    import sys
    from safetensors.torch import load_file, save_file
    from runtime.export import export
    p, t, ckpt, _ = trained
    out = tmp_path / "detector.py"
    export(p, ckpt, "python", out)
    assert "import numpy" not in out.read_text()
    f = t.dataset.fields
    args = {"image": f["image"][:8].contiguous(), "proposals": f["proposals"][:8].contiguous()}
    save_file(args, tmp_path / "args.safetensors")
    r = subprocess.run([sys.executable, "-c", NO_NUMPY, str(out),
                        str(tmp_path / "args.safetensors"), str(tmp_path / "out.safetensors")],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    got = load_file(tmp_path / "out.safetensors")
    t.compiled.model.eval()
    with torch.no_grad():
        want = t.compiled.model(args["image"], args["proposals"])
    assert (want[1] > 0).sum() > 0  # NMS had boxes to keep
    for i, w in enumerate(want):
        assert torch.equal(got[str(i)], w)
