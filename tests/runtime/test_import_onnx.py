"""`layerloom import model.onnx` (issue 26): ONNX files, written by torch's exporters from the
zoo and from a project's own export, come back as graphs equal to onnxruntime and to the
original module; unmapped operators and external data outside the model's folder are
refused in words, and nothing is written."""
import contextlib
import io
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from torch import nn

from graph.project import load
from runtime.importer import ImportProblem, import_source, parse_input
from runtime.importer.onnx_import import import_onnx
from tests.zoo import nets

LAYERLOOM = Path(sys.executable).with_name("layerloom")
ROOT = Path(__file__).resolve().parents[2]


def _export(model: nn.Module, shape, path: Path, **kw) -> Path:
    """torch's TorchScript-based exporter (dynamo=False: fast), quietly."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.randn(shape),), str(path), dynamo=False, **kw)
    return path


def _zoo(name):
    torch.manual_seed(0)
    model = getattr(nets, name)()
    for m in model.modules():  # batch norm with statistics of its own, not 0 and 1
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    return model.eval()


def _same_as(imported, model, inputs, seed=7):
    """The compiled graph equals the torch module on fresh inputs: the largest difference."""
    xs = [i.example(torch.Generator().manual_seed(seed)) for i in inputs]
    with torch.no_grad():
        return (imported.compiled.model(*xs) - model(*xs)).abs().max().item()


def _reloaded_same_as(tmp_path, imported, model, inputs):
    """The saved project and weights, loaded again and compiled, equal the module."""
    from runtime.compile import compile_graph
    from runtime.weights import load_weights
    path, weights = imported.save(tmp_path / "m.json")
    c = compile_graph(load(path).graph)
    load_weights(c.modules, weights)
    c.model.eval()
    xs = [i.example(torch.Generator().manual_seed(3)) for i in inputs]
    with torch.no_grad():
        return (c.model(*xs) - model(*xs)).abs().max().item()


ZOO = [("MLP", "x=3,4", {"Linear": 2}), ("LeNet", "x=2,1,28,28", {"Conv2d": 2, "Flatten": 1}),
       ("ResNet", "x=2,3,16,16", {"Add": 4, "GlobalAvgPool2d": 1}),
       ("MobileNetish", "x=2,3,16,16", {"ReLU6": 5, "AdaptiveAvgPool2d": 1}),
       ("UNet", "x=2,1,16,16", {"Concat": 1, "ConvTranspose2d": 1}),
       ("VGGish", "x=2,3,16,16", {"MaxPool2d": 2, "AvgPool2d": 1}),
       ("DCGANGenerator", "z=2,32,1,1", {"ConvTranspose2d": 3, "BatchNorm2d": 2}),
       ("Conv1dNet", "x=2,4,20", {"Conv1d": 2, "MaxPool1d": 2, "Multiply": 1}),
       ("PreNormMLP", "x=3,6", {"LayerNorm": 4, "GELU": 3})]


@pytest.mark.parametrize("name, shape, kinds", ZOO)
def test_zoo_onnx_imports_equal_to_onnxruntime_and_to_the_module(tmp_path, name, shape, kinds):
    model = _zoo(name)
    inputs = [parse_input(shape)]
    f = _export(model, inputs[0].shape, tmp_path / f"{name}.onnx")
    r = import_onnx(f, inputs)
    assert r.max_abs_diff <= 1e-5
    assert _same_as(r, model, inputs) <= 1e-5
    assert {k: r.nodes_by_type.get(k) for k in kinds} == kinds
    assert _reloaded_same_as(tmp_path, r, model, inputs) <= 1e-5


def test_node_ids_come_from_the_exporters_module_paths(tmp_path):
    model = _zoo("ResNet")
    f = _export(model, (2, 3, 16, 16), tmp_path / "r.onnx")
    r = import_onnx(f, [parse_input("x=2,3,16,16")])
    ids = set(r.project.graph.nodes())
    assert {"x", "conv1", "layer1_0_conv1", "layer2_0_downsample_0", "fc", "output"} <= ids
    keys = set(r.compiled.modules.state_dict())
    assert {"layer2_0_downsample_0.weight", "fc.bias"} <= keys


def test_a_projects_own_onnx_export_imports_back_equal(tmp_path):
    """The round trip: templates/cnn.json, untrained weights, exported by runtime.export (the
    dynamo exporter, a dynamic batch: its Reshape computes [N, -1]), imported back."""
    from runtime.compile import compile_graph
    from runtime.export import export
    from runtime.weights import save_weights
    project = load(ROOT / "templates" / "cnn.json")
    torch.manual_seed(0)
    c = compile_graph(project.graph)
    save_weights(c.modules, tmp_path / "w.safetensors")
    out = tmp_path / "cnn.onnx"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        export(project, tmp_path / "w.safetensors", "onnx", out)
    inputs = [parse_input("image=3,1,8,8")]
    r = import_onnx(out, inputs)
    assert r.max_abs_diff <= 1e-5
    c.model.eval()
    xs = [inputs[0].example(torch.Generator().manual_seed(5))]
    with torch.no_grad():
        assert (r.compiled.model(*xs) - c.model(*xs)).abs().max().item() <= 1e-5
    g = r.project.graph
    assert sorted(g.node_type(n) for n in g.nodes()) == sorted(
        project.graph.node_type(n) for n in project.graph.nodes()
        if project.graph.node_type(n) not in ("Target", "CategoricalCrossEntropyLoss"))


class Assorted(nn.Module):
    """Operators the zoo does not reach: padding, upsampling, permute, x @ W + b on a
    sequence (MatMul + Add), embedding, and the activations' own ONNX operators."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(11, 6)
        self.fc = nn.Linear(6, 8)
        self.conv = nn.Conv2d(2, 4, 3, padding=1)
        self.bn = nn.BatchNorm1d(8)

    def forward(self, x):
        img = x.view(x.size(0), 2, 4, 4)  # Reshape of a shape computed from x.size(0)
        img = nn.functional.pad(img, (1, 2, 1, 2))
        img = nn.ReflectionPad2d(1)(img)
        img = nn.Upsample(scale_factor=2, mode="nearest")(self.conv(img))
        img = nn.functional.interpolate(img, scale_factor=0.5, mode="bilinear")
        img = nn.functional.hardswish(nn.functional.leaky_relu(img, 0.2))
        seq = img.flatten(2).permute(0, 2, 1)  # N × L × C
        seq = nn.functional.elu(nn.functional.selu(seq), 0.5)
        seq = nn.functional.hardsigmoid(nn.functional.pad(seq, (1, 1), value=0.5))
        seq = nn.functional.gelu(self.fc(seq), approximate="tanh")  # MatMul + Add
        seq = self.bn(seq.permute(0, 2, 1))
        return torch.log_softmax(torch.clamp(seq, -1, 2), dim=1)


def test_assorted_operators_import_equal(tmp_path):
    torch.manual_seed(1)
    model = Assorted().eval()
    model.bn.running_mean.uniform_(-1, 1)
    inputs = [parse_input("x=2,32")]
    f = _export(model, inputs[0].shape, tmp_path / "a.onnx", opset_version=20)
    r = import_onnx(f, inputs)
    assert r.max_abs_diff <= 1e-5 and _same_as(r, model, inputs) <= 1e-5
    for kind in ("Reshape", "ZeroPad2d", "ReflectionPad2d", "Upsample", "Hardswish",
                 "LeakyReLU", "Permute", "SELU", "ELU", "ConstantPad1d", "Hardsigmoid",
                 "GELU", "Linear", "BatchNorm1d", "Hardtanh", "LogSoftmax"):
        assert r.nodes_by_type.get(kind), kind


def test_embedding_and_dropout_and_softmax_axis(tmp_path):
    class Tokens(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 5)

        def forward(self, ids):
            return torch.softmax(self.emb(ids), dim=2)

    torch.manual_seed(0)
    model = Tokens().eval()
    inputs = [parse_input("ids=2,7:int64:20")]
    f = tmp_path / "t.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randint(0, 20, (2, 7)),), str(f), dynamo=False)
    r = import_onnx(f, inputs)
    assert r.max_abs_diff <= 1e-6 and r.nodes_by_type["Embedding"] == 1
    assert _same_as(r, model, inputs) <= 1e-6


# Refusals --------------------------------------------------------------------------------------
def test_an_unmapped_operator_is_named_with_its_node_and_inputs(tmp_path):
    f = _export(nets.Unmapped(), (2, 4), tmp_path / "u.onnx")
    node = next(n for n in onnx.load(str(f)).graph.node if n.op_type == "CumSum")
    with pytest.raises(ImportProblem) as e:
        import_onnx(f, [parse_input("x=2,4")])
    msg = str(e.value)
    assert "CumSum" in msg and node.name in msg and node.input[0] in msg
    assert "nothing was written" in msg
    assert sorted(p.name for p in tmp_path.iterdir()) == ["u.onnx"]


def _one_conv(pads, path: Path) -> Path:
    w = helper.make_tensor("w", TensorProto.FLOAT, [2, 1, 3, 3], np.ones(18, np.float32))
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="odd_conv", pads=pads)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 1, 6, 6])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [1, 2, None, None])], [w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_asymmetric_padding_is_refused_in_words(tmp_path):
    with pytest.raises(ImportProblem, match=r"odd_conv.*pads \[0, 0, 1, 1\] are not symmetric"):
        import_onnx(_one_conv([0, 0, 1, 1], tmp_path / "c.onnx"), [parse_input("x=1,1,6,6")])
    r = import_onnx(_one_conv([1, 1, 1, 1], tmp_path / "d.onnx"), [parse_input("x=1,1,6,6")])
    assert r.max_abs_diff == 0 and r.nodes_by_type["Conv2d"] == 1


def _external(tmp_path: Path) -> Path:
    """MLP's ONNX with its weights in a file beside it."""
    folder = tmp_path / "model"
    folder.mkdir()
    f = _export(_zoo("MLP"), (3, 4), tmp_path / "plain.onnx")
    m = onnx.load(str(f))
    onnx.save(m, str(folder / "m.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="m.bin", size_threshold=0)
    return folder / "m.onnx"


def _relocate(path: Path, location: str) -> None:
    m = onnx.load(str(path), load_external_data=False)
    for t in m.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = location
    onnx.save(m, str(path))


def test_external_data_beside_the_model_is_read(tmp_path):
    f = _external(tmp_path)
    r = import_onnx(f, [parse_input("x=3,4")])
    assert r.max_abs_diff <= 1e-6 and _same_as(r, _zoo("MLP"), [parse_input("x=3,4")]) <= 1e-6


@pytest.mark.parametrize("where", ["../evil.bin", "ABSOLUTE", "link.bin"])
def test_external_data_outside_the_models_folder_is_refused(tmp_path, where):
    f = _external(tmp_path)
    evil = tmp_path / "evil.bin"
    evil.write_bytes((f.parent / "m.bin").read_bytes())
    if where == "ABSOLUTE":
        where = str(evil)
    elif where == "link.bin":
        os.symlink(evil, f.parent / "link.bin")
    _relocate(f, where)
    with pytest.raises(ImportProblem) as e:
        import_onnx(f, [parse_input("x=3,4")])
    assert where in str(e.value) and "outside the model's folder" in str(e.value)


def test_no_onnxruntime_is_refused_in_words(tmp_path, monkeypatch):
    f = _export(_zoo("MLP"), (3, 4), tmp_path / "m.onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    with pytest.raises(ImportProblem, match="needs onnxruntime: pip install onnxruntime"):
        import_onnx(f, [parse_input("x=3,4")])


def test_input_shapes_and_counts_that_do_not_fit_are_refused(tmp_path):
    f = _export(_zoo("LeNet"), (2, 1, 28, 28), tmp_path / "l.onnx")
    with pytest.raises(ImportProblem, match=r"has shape \[2, 1, 28, 28\]; --input x gives"):
        import_onnx(f, [parse_input("x=2,1,32,32")])
    with pytest.raises(ImportProblem, match=r"takes 1 input\(s\)"):
        import_onnx(f, [parse_input("x=2,1,28,28"), parse_input("y=2,3")])
    with pytest.raises(ImportProblem, match="no such file"):
        import_onnx(tmp_path / "none.onnx", [parse_input("x=2,3")])
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ImportProblem, match="junk.onnx"):
        import_source(str(tmp_path / "junk.onnx"), [parse_input("x=2,3")])


def test_cli_imports_an_onnx_file(tmp_path):
    f = _export(_zoo("LeNet"), (2, 1, 28, 28), tmp_path / "lenet.onnx")
    out = tmp_path / "P.json"
    p = subprocess.run([str(LAYERLOOM), "import", str(f), "--input", "x=2,1,28,28", "--out",
                        str(out), "--json"], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert p.returncode == 0, p.stderr
    assert "Imported lenet: 15 nodes" in p.stdout
    figures = json.loads(p.stdout.strip().splitlines()[-1])
    assert figures["nodes"] == 15 and figures["max_abs_diff"] <= 1e-5
    assert out.is_file() and out.with_suffix(".safetensors").is_file()
    assert load(out).graph.node_type("conv1") == "Conv2d"
