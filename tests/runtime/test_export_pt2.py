"""The `pt2` export (a torch.export ExportedProgram, runtime/export_pt2.py): loaded in a fresh
process with torch alone (`torch.export.load(path).module()`), it gives the trained model's
outputs at a batch size (and a sequence length) other than the example's it was captured
with; detectors are refused before any work with the reason; a model whose size torch.export
would fix is refused with one line; a failure while writing leaves no file."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graph.project import load
from runtime.export import ExportError, data_labels, export, refused_formats, trained_model
from runtime.train import Trainer
from runtime.weights import save_weights
from tests.runtime.test_export_recurrent import rnn_seq

ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-5
# template -> its input's shape at a batch of 7 (the export's example has batch 2, T = 5);
# char_lstm's input is token ids (and its export carries the vocabulary)
CASES = {"mlp": (7, 2), "cnn": (7, 1, 8, 8), "lstm": (7, 50, 2), "char_lstm": (7, 30)}

# Run with torch alone, from an empty folder: loads the file, runs it on the saved inputs,
# compares with the saved outputs, and says whether any of LayerLoom's packages was imported.
FRESH = """
import json, sys, torch
extra = {"vocab.json": "", "classes.json": ""}
m = torch.export.load("model.pt2", extra_files=extra).module()
case = torch.load("case.pt")
got = m(*case["args"])
got = list(got) if isinstance(got, (tuple, list)) else [got]
print(json.dumps({
    "shapes": [list(g.shape) for g in got],
    "error": max(float((g - w).abs().max()) for g, w in zip(got, case["want"])),
    "extra": {k: v for k, v in extra.items() if v},
    "ours": sorted({n.split(".")[0] for n in sys.modules} & {"graph", "runtime", "app"}),
}))
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """name -> (project, weights file, inputs at batch 7, the trained model's outputs): the
    MLP, the CNN and the LSTM trained 20 steps; char_lstm's fresh weights (seeded: 20 steps
    of it take minutes on a busy 2-core machine)."""
    folder = tmp_path_factory.mktemp("pt2")
    out = {}
    for name, shape in CASES.items():
        project = load(ROOT / "templates" / f"{name}.json")
        if name == "char_lstm":
            torch.manual_seed(0)
            model = trained_model(project, None).model
        else:
            t = Trainer(project, device="cpu", max_steps=20)
            assert list(t.run())[-1].kind == "finished"
            model = t.model
        save_weights(model, folder / f"{name}.safetensors")
        gen = torch.Generator().manual_seed(1)
        x = torch.randint(0, 20, shape, generator=gen) if name == "char_lstm" \
            else torch.rand(shape, generator=gen)
        model.eval()
        with torch.no_grad():
            y = model(x)
        out[name] = project, folder / f"{name}.safetensors", (x,), [y]
    return out


@pytest.mark.parametrize("name", [  # a process each: mlp and lstm every day
    pytest.param(n, marks=() if n in ("mlp", "lstm") else pytest.mark.slow) for n in CASES])
def test_loads_in_a_fresh_process_with_another_batch(trained, name, tmp_path):
    project, w, args, want = trained[name]
    [f] = export(project, w, "pt2", tmp_path / "model.pt2")
    assert f == tmp_path / "model.pt2" and f.stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt2"]  # no temporary file left
    torch.save({"args": args, "want": want}, tmp_path / "case.pt")
    r = subprocess.run([sys.executable, "-c", FRESH], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300, env=dict(os.environ, PYTHONPATH=""))
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["shapes"] == [list(y.shape) for y in want] and got["shapes"][0][0] == 7
    assert got["error"] <= TOL
    assert got["ours"] == []  # torch alone
    assert got["extra"] == data_labels(project).files()  # the class names, the vocabulary
    assert ("vocab.json" in got["extra"]) == (name == "char_lstm")


def test_a_detector_is_refused_before_any_work(tmp_path):
    project = load(ROOT / "templates" / "fast_rcnn.json")
    why = refused_formats(project)["pt2"]
    assert "torch.export cannot capture" in why and "export TorchScript" in why
    with pytest.raises(ExportError) as e:
        export(project, None, "pt2", tmp_path / "d.pt2")
    assert str(e.value) == f"ExportedProgram: {why}"
    assert list(tmp_path.iterdir()) == []


def test_a_size_torch_export_would_fix_is_refused_in_one_line(tmp_path):
    """nn.RNN over a sequence of any length: torch.export unrolls it over the example's T
    (it has a while-loop form of LSTM and GRU only), so the file would take T = 5 alone."""
    p = rnn_seq()
    save_weights(trained_model(p, None).model, tmp_path / "w.safetensors")
    with pytest.raises(ExportError, match=r"^torch.export would fix T = 5 .* export TorchScript, "
                                          "ONNX or the python file instead$"):
        export(p, tmp_path / "w.safetensors", "pt2", tmp_path / "r.pt2")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["w.safetensors"]


def test_a_failure_while_writing_leaves_no_file(trained, tmp_path, monkeypatch):
    project, w, _, _ = trained["mlp"]
    out = tmp_path / "m.pt2"

    def half_saved(ep, f, **kwargs):
        f.write(b"PK\x03\x04 half an archive")
        raise RuntimeError("disk went away")
    with monkeypatch.context() as m:
        m.setattr(torch.export, "save", half_saved)
        with pytest.raises(ExportError, match="torch.export.save failed .*disk went away"):
            export(project, w, "pt2", out)
    assert list(tmp_path.iterdir()) == []

    out.write_bytes(b"the user's file")  # replaced with force: kept whole if the write fails

    def full_disk(fd):
        raise OSError(28, "No space left on device")
    with monkeypatch.context() as m:
        m.setattr(os, "fsync", full_disk)  # the bytes are in the temporary file by then
        with pytest.raises(OSError, match="No space left"):
            export(project, w, "pt2", out, force=True)
    assert [f.name for f in tmp_path.iterdir()] == ["m.pt2"]
    assert out.read_bytes() == b"the user's file"


@pytest.mark.slow  # the decoding loops take 10-20 s each to capture; 16 templates in all
def test_every_template_exports_or_is_refused(tmp_path):
    """Each template (fresh weights) exports, and its program gives the model's outputs at
    another batch and length (the writer's own check), or is refused by format_refusal."""
    from templates import list_templates
    refused = set()
    for t in list_templates():
        project = load(t.path)
        if "pt2" in refused_formats(project):
            refused.add(t.key)
            continue
        torch.manual_seed(0)
        [f] = export(project, None, "pt2", tmp_path / f"{t.key}.pt2")
        assert f.stat().st_size > 0, t.key
    # detectors, and the recurrent loops (torch.export would unroll them, fixing T)
    assert refused == {"rcnn", "fast_rcnn", "faster_rcnn", "mask_rcnn", "lstm_from_gates",
                       "gru_from_gates"}
