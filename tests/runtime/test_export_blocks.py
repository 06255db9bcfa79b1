"""Exports of a model with blocks (issue 25, item 6): the Python file writes one readable
class per block definition, with the app's state_dict keys; TorchScript, ONNX, the
ExportedProgram and the bundle give the app's outputs."""
import subprocess
import sys

import pytest
import torch

from graph.model import Graph
from graph.project import Project, load
from runtime.export import export, trained_model
from runtime.weights import save_weights
from tests.graphs import basic_block
from tests.runtime.test_blocks import _stages
from tests.runtime.test_export import torch_only_venv

TOL = 1e-5


def _randomise(model) -> None:
    """Weights and batch-norm statistics away from their initial values (a trained model)."""
    with torch.no_grad():
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                v.copy_(torch.rand_like(v) + 0.5 if "var" in k else torch.randn_like(v) * 0.3)


def _saved(project: Project, folder):
    c = trained_model(project, None)
    _randomise(c.model)
    save_weights(c.model, folder / "w.safetensors")
    x = torch.rand(5, 3, 16, 16)  # a batch the exporters never saw
    with torch.no_grad():
        y = c.model(x)
    return c, folder / "w.safetensors", x, y


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    """Three deep: stages of basic blocks of layers, layer2 repeated twice."""
    folder = tmp_path_factory.mktemp("stages")
    project = Project(graph=_stages(), name="Res stages")
    return (project, *_saved(project, folder))


def _run_python(py, folder, stem, x):
    torch.save(x, folder / "x.pt")
    code = (f"import torch, sys\nsys.path.insert(0, '.')\nfrom {stem} import load\n"
            f"m = load()\nx = torch.load('x.pt')\nwith torch.no_grad():\n"
            "    y = m(x)\ntorch.save(y, 'y.pt')\n"
            "print(sorted(m.state_dict()) == sorted(torch.load('keys.pt')))")
    r = subprocess.run([str(py), "-c", code], cwd=folder, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True"  # the same state_dict keys as the app's model
    return torch.load(folder / "y.pt")


def test_python_file_has_one_class_per_definition(stages, tmp_path):
    project, c, w, x, y = stages
    [f, _] = export(project, w, "python", tmp_path / "stages.py")
    text = f.read_text()
    for cls in ("class BasicBlock(nn.Module)", "class BasicBlockDownsample(nn.Module)",
                "class Stage(nn.Module)", "class ResStages(nn.Module)"):
        assert text.count(cls + ":") == 1, cls
    assert text.count("(nn.Module):") == 4
    # the definitions' parameters: the block parameter that sets them, else <node>_<arg>
    assert "    def __init__(self, width, b0_conv1_in_channels):" in text
    assert "    def __init__(self, channels):" in text
    assert "self.b1 = BasicBlock(channels=width)" in text
    assert "self.layer1 = Stage(width=8, b0_conv1_in_channels=3)" in text
    assert "self.layer2 = nn.Sequential(Stage(width=16, b0_conv1_in_channels=8), " \
           "Stage(width=16, b0_conv1_in_channels=16))" in text
    assert "        layer1 = self.layer1(img)\n        layer2 = self.layer2(layer1)\n" in text
    assert "        b0 = self.b0(x)\n        b1 = self.b1(b0)\n        return b1\n" in text
    torch.save(list(c.model.state_dict()), tmp_path / "keys.pt")
    got = _run_python(sys.executable, tmp_path, "stages", x)
    assert (got - y).abs().max() <= TOL


@pytest.mark.slow  # builds a venv with torch (shared by the venv tests)
def test_python_file_of_nested_blocks_in_a_fresh_torch_only_venv(stages, tmp_path,
                                                                  tmp_path_factory):
    project, c, w, x, y = stages
    export(project, w, "python", tmp_path / "model.py")
    torch.save(list(c.model.state_dict()), tmp_path / "keys.pt")
    got = _run_python(torch_only_venv(tmp_path_factory), tmp_path, "model", x)
    assert (got - y).abs().max() <= TOL


@pytest.mark.slow  # over 4.5 s: the full tier (the everyday one stays under 10 min)
def test_torchscript_onnx_pt2_and_bundle(stages, tmp_path):
    import onnxruntime as ort
    project, c, w, x, y = stages
    [f] = export(project, w, "torchscript", tmp_path / "m.pt")
    with torch.no_grad():
        assert (torch.jit.load(str(f))(x) - y).abs().max() <= TOL
    [f] = export(project, w, "onnx", tmp_path / "m.onnx")
    out = ort.InferenceSession(str(f)).run(None, {"img": x.numpy()})[0]
    assert abs(out - y.numpy()).max() <= 1e-4
    [f] = export(project, w, "pt2", tmp_path / "m.pt2")
    with torch.no_grad():
        assert (torch.export.load(str(f)).module()(x) - y).abs().max() <= TOL
    export(project, w, "bundle", tmp_path / "b")
    again = trained_model(load(tmp_path / "b" / "project.json"), tmp_path / "b")
    with torch.no_grad():
        assert (again.model(x) - y).abs().max() <= TOL


def test_shared_weights_repeat_4_exports_one_blocks_parameters(tmp_path):
    g = Graph()
    basic_block(g)
    g.add_node("Input", "img", {"shape": [3, 16, 16]})
    g.add_node("Conv2d", "stem", {"out_channels": 8, "kernel_size": 3, "padding": 1})
    g.add_node("block:basic", "s", {"repeat": 4, "share_weights": True})
    g.add_node("Output", "out")
    g.connect("img", "out", "stem", "x")
    g.connect("stem", "y", "s", "x")
    g.connect("s", "y", "out", "x")
    project = Project(graph=g, name="shared")
    c, w, x, y = _saved(project, tmp_path)
    [f, _] = export(project, w, "python", tmp_path / "shared.py")
    text = f.read_text()
    assert "class BasicBlock(nn.Module)" in text and "        self.s = BasicBlock()\n" in text
    assert text.count("self.s(") == 4  # one module, applied four times
    torch.save(list(c.model.state_dict()), tmp_path / "keys.pt")
    got = _run_python(sys.executable, tmp_path, "shared", x)
    assert (got - y).abs().max() <= TOL
    assert sorted(k for k in c.model.state_dict() if k.startswith("s.")
                  and k.endswith("weight")) == ["s.bn1.weight", "s.bn2.weight",
                                                "s.conv1.weight", "s.conv2.weight"]


def test_instances_whose_code_differs_get_a_class_each_and_repeats_a_module_list(tmp_path):
    """A two-input block fed one value twice reads it once: another forward, so another
    class (Mix2); a repeated block of two inputs and two outputs is a ModuleList."""
    g = Graph()
    d = g.add_block("mix", "Mix")
    b = d.graph
    b.add_node("BlockInput", "a")
    b.add_node("BlockInput", "b")
    b.add_node("Linear", "fa", {"out_features": 6})
    b.add_node("Linear", "fb", {"out_features": 6})
    b.add_node("Add", "add")
    b.add_node("Tanh", "act")
    b.add_node("BlockOutput", "p")
    b.add_node("BlockOutput", "q")
    b.connect("a", "out", "fa", "x")
    b.connect("b", "out", "fb", "x")
    b.connect("fa", "y", "add", "x")
    b.connect("fb", "y", "add", "x")
    b.connect("add", "y", "act", "x")
    b.connect("act", "y", "p", "x")
    b.connect("add", "y", "q", "x")
    g.add_node("Input", "v", {"shape": [6]})
    g.add_node("block:mix", "m1")
    g.add_node("block:mix", "m2", {"repeat": 3})
    g.add_node("Add", "total")
    g.add_node("Output", "out")
    g.connect("v", "out", "m1", "a")
    g.connect("v", "out", "m1", "b")
    g.connect("m1", "p", "m2", "a")
    g.connect("v", "out", "m2", "b")
    g.connect("m2", "p", "total", "x")
    g.connect("m2", "q", "total", "x")
    g.connect("total", "y", "out", "x")
    project = Project(graph=g, name="mixer")
    c = trained_model(project, None)
    save_weights(c.model, tmp_path / "w.safetensors")
    x = torch.randn(4, 6)
    with torch.no_grad():
        y = c.model(x)
    [f, _] = export(project, tmp_path / "w.safetensors", "python", tmp_path / "mixer.py")
    text = f.read_text()
    assert "class Mix(nn.Module)" in text and "class Mix2(nn.Module)" in text
    assert "self.m1 = Mix()" in text and "        fb = self.fb(a)\n" in text  # m1: v twice
    assert "self.m2 = nn.ModuleList([Mix2() for _ in range(3)])" in text
    torch.save(list(c.model.state_dict()), tmp_path / "keys.pt")
    got = _run_python(sys.executable, tmp_path, "mixer", x)
    assert (got - y).abs().max() <= TOL
