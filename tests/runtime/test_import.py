"""`layerloom import` (issue 26): PyTorch modules from the zoo come back as graphs that
compute what they computed, user modules as blocks, with clear refusals."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graph.project import load
from graph.spec import NodeRole
from runtime.importer import ImportProblem, import_model, import_source, parse_input
from tests.zoo import nets

ZOO = Path(nets.__file__)
LAYERLOOM = Path(sys.executable).with_name("layerloom")


def _equal_after_reload(tmp_path, imported, model, inputs):
    """The saved project and weights, loaded again and compiled, equal the original."""
    from runtime.compile import compile_graph
    from runtime.weights import load_weights
    path, weights = imported.save(tmp_path / "m.json")
    c = compile_graph(load(path).graph)
    load_weights(c.modules, weights)
    c.model.eval()
    xs = [i.example(torch.Generator().manual_seed(7)) for i in inputs]
    with torch.no_grad():
        assert torch.allclose(c.model(*xs), model.eval()(*xs), atol=1e-5)
    return path, weights


# The zoo: (class, example input, blocks made)
ZOO_CASES = [("MLP", "x=3,4", 0), ("ResNet", "x=2,3,16,16", 3), ("LeNet", "x=2,1,28,28", 0),
             ("MobileNetish", "x=2,3,16,16", 2), ("UNet", "x=2,1,16,16", 3),
             ("GRUClassifier", "tokens=2,7:int64:50", 0),
             ("LSTMLanguageModel", "tokens=2,9:int64:40", 0), ("PreNormMLP", "x=3,6", 1),
             ("DCGANGenerator", "z=2,32,1,1", 0), ("VGGish", "x=2,3,16,16", 0),
             ("Conv1dNet", "x=2,4,20", 0), ("ViT", "x=2,3,16,16", 1),
             ("TransformerClassifier", "tokens=2,7:int64:50", 0)]


def _zoo(name):
    torch.manual_seed(0)
    model = getattr(nets, name)()
    for m in model.modules():  # batch norm with statistics of its own, not 0 and 1
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    return model.eval()


@pytest.mark.parametrize("name, shape, blocks", ZOO_CASES)
def test_zoo_module_imports_equal_and_reloads_equal(tmp_path, name, shape, blocks):
    model = _zoo(name)
    inputs = [parse_input(shape)]
    r = import_model(model, inputs)
    assert r.max_abs_diff <= 1e-5 and r.blocks == blocks
    _equal_after_reload(tmp_path, r, model, inputs)


def test_resnet_stages_arrive_as_basic_blocks_with_torch_weight_names():
    model = nets.ResNet()
    r = import_model(model, [parse_input("x=2,3,16,16")])
    g = r.project.graph
    inst = {n: g.node_type(n) for n in g.nodes() if g.node_type(n).startswith("block:")}
    assert sorted(inst) == ["layer1_0", "layer1_1", "layer2_0", "layer2_1"]
    # layer1's two blocks are one definition; layer2's first (with its downsample) another
    assert inst["layer1_0"] == inst["layer1_1"] != inst["layer2_0"]
    down = g.blocks[inst["layer2_0"][len("block:"):]].graph
    assert {"downsample_0", "downsample_1", "conv1", "conv2"} <= set(down.nodes())
    assert r.blocks == 3  # layer2_1 has other sizes than layer1's blocks
    keys = set(r.compiled.modules.state_dict())
    assert "layer2_0.downsample_0.weight" in keys and "layer1_1.bn2.running_var" in keys


@pytest.mark.parametrize("name, shape, blocks", [
    pytest.param(*c, marks=() if c[0] == "ResNet" else pytest.mark.slow) for c in ZOO_CASES])
def test_python_export_of_an_imported_project_equals_the_original(tmp_path, name, shape,
                                                                   blocks):
    from runtime.export import export
    model = _zoo(name)
    inputs = [parse_input(shape)]
    r = import_model(model, inputs)
    path, weights = r.save(tmp_path / "resnet.json")
    files = export(load(path), weights, "python", tmp_path / "resnet_model.py",
                   project_path=path)
    py = next(Path(f) for f in files if str(f).endswith(".py"))
    spec = importlib.util.spec_from_file_location("exported_resnet", py)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    exported = mod.load(next(Path(f) for f in files if str(f).endswith(".safetensors")))
    exported.eval()
    xs = [i.example(torch.Generator().manual_seed(3)) for i in inputs]
    with torch.no_grad():
        assert torch.allclose(exported(*xs), model(*xs), atol=1e-5)


def test_an_unmapped_operation_is_named_with_its_line_and_nothing_is_written(tmp_path):
    with pytest.raises(ImportProblem) as e:
        import_model(nets.Unmapped(), [parse_input("x=2,4")])
    line = next(i for i, text in enumerate(ZOO.read_text().splitlines(), 1)
                if "torch.cumsum" in text)
    assert "torch.cumsum" in str(e.value) and f"nets.py, line {line}" in str(e.value)


def test_refusals_say_what_is_wrong():
    with pytest.raises(ImportProblem, match="cannot trace"):
        import_model(nets.DataDependent(), [parse_input("x=2,4")])
    with pytest.raises(ImportProblem, match=r"x \[2, 5, 16, 16\].*3 channels"):
        import_model(nets.ResNet(), [parse_input("x=2,5,16,16")])
    with pytest.raises(ImportProblem, match=r"forward takes \(x\): no --input for x"):
        import_model(nets.MLP(), [parse_input("y=2,4")])
    with pytest.raises(ImportProblem, match="has no 'Nope'; it defines .*LeNet"):
        import_source(f"{ZOO}:Nope", [parse_input("x=2,4")])
    with pytest.raises(ImportProblem, match=r"Broken: building it failed \(nets.py, line \d+\): "
                                            "ValueError: no weights file here"):
        import_source(f"{ZOO}:Broken", [parse_input("x=2,4")])
    with pytest.raises(ImportProblem, match="no such file"):
        import_source("/nowhere/model.py:Net", [parse_input("x=2,4")])
    for bad in ("x", "x=", "x=2,a", "x=0,3", "x=2:float16", "x=2:float32:5"):
        with pytest.raises(ImportProblem, match="--input"):
            parse_input(bad)
    assert parse_input("ids=2,16:int64:1000").high == 1000
    nan = nets.MLP()
    with torch.no_grad():
        nan.fc2.weight[0, 0] = float("nan")
    with pytest.raises(ImportProblem, match="output 1 holds NaN or infinite values"):
        import_model(nan, [parse_input("x=2,4")])


def test_a_function_returning_a_module_with_init_arguments():
    r = import_source(f"{ZOO}:make_mlp", [parse_input("x=2,4")], init='{"hidden": 5}')
    assert r.project.graph.params("fc1")["out_features"] == 5
    with pytest.raises(ImportProblem, match="--init: not JSON"):
        import_source(f"{ZOO}:make_mlp", [parse_input("x=2,4")], init="{hidden: 5}")


@pytest.mark.slow  # over 4.5 s: the full tier (the everyday one stays under 10 min)
def test_cli_import_writes_the_project_and_weights_and_refuses_clearly(tmp_path):
    out = tmp_path / "mlp.json"
    cmd = [str(LAYERLOOM), "import", f"{ZOO}:MLP", "--input", "x=2,4", "--out", str(out),
           "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    figures = json.loads(r.stdout.strip().splitlines()[-1])
    assert figures["nodes"] == 6 and figures["blocks"] == 0 and figures["unmapped"] == []
    assert figures["max_abs_diff"] <= 1e-5 and figures["seconds"] > 0
    assert "Imported MLP: 6 nodes" in r.stdout
    assert out.exists() and out.with_suffix(".safetensors").exists()
    again = subprocess.run(cmd, capture_output=True, text=True)  # no --force
    assert again.returncode == 2 and "exists: pass --force" in again.stderr
    bad = subprocess.run([*cmd[:2], f"{ZOO}:Unmapped", *cmd[3:], "--force"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "torch.cumsum" in bad.stderr
    assert "Traceback" not in bad.stderr + again.stderr
    assert load(out).graph.nodes() == ["x", "fc1", "relu", "drop", "fc2", "output"]
    helptext = subprocess.run([str(LAYERLOOM), "import", "--help"], capture_output=True,
                              text=True).stdout
    assert "RUNS IT" in helptext and "trust" in helptext


# What the ViT and TransformerEncoder imports rest on -------------------------------------------

class _Weights(torch.nn.Module):
    """Reads nn.MultiheadAttention's weights with need_weights=False: torch gives None."""

    def __init__(self):
        super().__init__()
        self.attn = torch.nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False)[1]


class _Masked(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = torch.nn.TransformerEncoder(
            torch.nn.TransformerEncoderLayer(8, 2, 16, batch_first=True), 1)

    def forward(self, x):
        mask = torch.nn.Transformer.generate_square_subsequent_mask(3)
        return self.enc(x, mask=mask, is_causal=True)


class _Buffer(torch.nn.Module):
    """A buffer read directly, a learned scale, flatten(1) and a swap of the last two axes."""

    def __init__(self):
        super().__init__()
        self.register_buffer("shift", torch.randn(1, 4, 3))
        self.scale = torch.nn.Parameter(torch.randn(1, 4, 3))

    def forward(self, x):
        y = (x.permute(0, 2, 1) + self.shift) * self.scale
        return torch.flatten(y.swapaxes(-1, -2), 1)


def test_imports_refuse_what_a_node_computes_otherwise_and_keep_buffers_fixed():
    with pytest.raises(ImportProblem, match="uses attn's weights, which torch computes "
                                            "otherwise"):
        import_model(_Weights(), [parse_input("x=2,3,8")])
    with pytest.raises(ImportProblem, match="TransformerEncoder is called with"):
        import_model(_Masked(), [parse_input("x=2,3,8")])
    torch.manual_seed(0)
    r = import_model(_Buffer(), [parse_input("x=2,3,4")])
    assert r.max_abs_diff == 0
    g = r.project.graph
    types = {n: g.node_type(n) for n in g.nodes()}
    assert types["shift"] == types["scale"] == "Parameter"
    assert g.params("shift")["learn"] is False and g.params("scale")["learn"] is True
    assert g.params("permute")["dims"] == [0, 2, 1]
    assert "Transpose" in types.values() and "Flatten" in types.values()
    assert [n for n, _ in r.compiled.modules.named_buffers()] == ["shift.weight"]


class _Encoder(torch.nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, src):
        return self.encoder(src)


def test_torchs_transformer_encoder_with_a_final_norm_gelu_and_pre_norm_layers():
    """nn.TransformerEncoder is imported as its layers in a row, then its norm; each layer's
    settings (gelu, norm_first, eps, sizes) are read where torch keeps them."""
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0, activation="gelu",
                                             layer_norm_eps=1e-6, norm_first=True,
                                             batch_first=True)
    enc = torch.nn.TransformerEncoder(layer, 3, norm=torch.nn.LayerNorm(8),
                                      enable_nested_tensor=False)
    r = import_model(_Encoder(enc), [parse_input("src=2,5,8")])
    assert r.max_abs_diff <= 1e-5
    g = r.project.graph
    assert [g.node_type(n) for n in g.nodes()] == [
        "Input", *["TransformerEncoderLayer"] * 3, "LayerNorm", "Output"]
    p = g.params("encoder_layers_2")
    assert (p["nhead"], p["dim_feedforward"], p["activation"], p["norm_first"],
            p["layer_norm_eps"], p["dropout"]) == (2, 12, "gelu", True, 1e-6, 0.0)
    post = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2), 1,
                                       enable_nested_tensor=False)
    with pytest.raises(ImportProblem, match=r"batch_first=False"):
        import_model(_Encoder(post), [parse_input("src=2,5,8")])


def test_a_named_size_stays_a_symbol_in_the_input_node():
    spec = parse_input("x=2,T=7,4")
    assert spec.shape == (2, 7, 4) and spec.sample_shape() == ["T", 4]
    r = import_model(nets.GRUClassifier(), [parse_input("tokens=2,T=9:int64:50")])
    entry = next(n for n in r.project.graph.nodes()
                 if r.project.graph.spec(n).role == NodeRole.INPUT)
    assert r.project.graph.params(entry)["shape"] == ["T"]
    for bad, says in [("x=N=2,3", "'N'"), ("x=2,t=3", "'t'"), ("x=2,T=a", "named: 1,T=7,2")]:
        with pytest.raises(ImportProblem, match=says):
            parse_input(bad)


def test_the_saved_project_starts_from_the_imported_weights(tmp_path):
    r = import_model(nets.MLP(), [parse_input("x=2,4")])
    project_file, weights = r.save(tmp_path / "p.json")
    assert load(project_file).training.initial_weights == weights.name == "p.safetensors"


class _SelfAttention(torch.nn.Module):
    """Attention written by hand, softmax over the last dim as most code writes it."""

    def __init__(self):
        super().__init__()
        self.q = torch.nn.Linear(8, 8)

    def forward(self, x):
        q = self.q(x)
        return torch.nn.functional.softmax(q @ q.transpose(1, 2) / 2.0, dim=-1) @ q


def test_softmax_over_the_last_dim_counted_from_the_end():
    r = import_model(_SelfAttention(), [parse_input("x=2,T=5,8")])
    assert r.max_abs_diff <= 1e-5
    g = r.project.graph
    (soft,) = [n for n in g.nodes() if g.node_type(n) == "Softmax"]
    assert g.params(soft)["dim"] == -1
