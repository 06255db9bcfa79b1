"""Exports of a model with blocks and a decoding loop: the transformer template, built from an
Encoder layer block and a Decoder layer block, with a Greedy decode node. The Python file
writes a class per block and the decoder's step as a method of the model's class (calling
the Decoder layer's class); it loads the app's weights (the same state_dict keys) and
decodes the same tokens as the app's model on inputs it never saw, in a fresh process.
TorchScript, ONNX, the ExportedProgram and the bundle decode the same tokens too."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graph.model import Graph
from graph.project import Project, load
from runtime.compile import compile_graph
from runtime.data import seq2seq as s2s
from runtime.export import ExportError, export, format_refusal, refused_formats, trained_model
from runtime.train import Trainer
from runtime.weights import save_weights
from tests.runtime.test_export import torch_only_venv

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ("Aug 29, 1958", "03/30/1968", "tuesday, july 4, 2023", "1 JAN 2001", "12.11.99")


def _cases() -> list[torch.Tensor]:
    """Inputs the model never saw: dates written by hand (padded), and random tokens at
    other batch sizes and lengths."""
    width = max(len(t) for t in TEXTS) + 3
    dates = torch.tensor([s2s.encode(t, s2s.DATE_VOCAB) + [0] * (width - len(t))
                          for t in TEXTS])
    gen = torch.Generator().manual_seed(7)
    return [dates, torch.randint(3, len(s2s.DATE_VOCAB), (1, 4), generator=gen),
            torch.randint(3, len(s2s.DATE_VOCAB), (6, 23), generator=gen)]


@pytest.fixture(scope="module")
def transformer(tmp_path_factory):
    """The transformer template (a copy) trained 30 steps; its weights, the held-out inputs
    and the app's decoded tokens for them."""
    folder = tmp_path_factory.mktemp("transformer")
    shutil.copy(ROOT / "templates" / "transformer.json", folder / "transformer.json")
    project = load(folder / "transformer.json")
    torch.manual_seed(0)
    t = Trainer(project, device="cpu", max_steps=30)
    assert list(t.run())[-1].kind == "finished"
    save_weights(t.model, folder / "w.safetensors")
    c = trained_model(project, folder / "w.safetensors")
    c.model.eval()
    cases = _cases()
    with torch.no_grad():
        want = [c.model(x) for x in cases]
    return project, folder / "w.safetensors", c, cases, want


RUN = """
import json, sys, torch
sys.path.insert(0, ".")
from transformer_model import load
m = load()
cases = torch.load("cases.pt")
with torch.no_grad():
    out = [m(x).tolist() for x in cases]
print(json.dumps({"tokens": out, "keys": sorted(m.state_dict()),
                  "ours": sorted({n.split(".")[0] for n in sys.modules}
                                 & {"graph", "runtime", "app", "templates"})}))
"""


def _run_file(py, folder: Path, cases) -> dict:
    torch.save(cases, folder / "cases.pt")
    r = subprocess.run([str(py), "transformer_model.py"], cwd=folder, capture_output=True,
                       text=True, timeout=300)  # its own __main__: an example at S = 5
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == "outputs: (2, 11)"
    r = subprocess.run([str(py), "-c", RUN], cwd=folder, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # over 4.5 s: the full tier (the everyday one stays under 10 min)
def test_transformer_python_file_decodes_like_the_app_in_a_fresh_process(transformer,
                                                                         tmp_path):
    project, w, c, cases, want = transformer
    assert refused_formats(project) == {}  # the python file too (it was refused before)
    [f, weights] = export(project, w, "python", tmp_path / "transformer_model.py")
    text = f.read_text()
    for cls in ("EncoderLayer", "DecoderLayer", "Transformer"):
        assert text.count(f"class {cls}(nn.Module):") == 1, cls
    assert "        self.encoder = EncoderLayer()\n" in text
    assert "        self.decoder = DecoderLayer()\n" in text
    assert "        self.decode.bind(self.decode_step, start=1, batch_from=0)\n" in text
    # the forward runs the encoder block and the decode loop; the step the decoder block
    assert "        encoder = self.encoder(src_position, src_padding)\n" \
           "        decode = self.decode(encoder, src_padding)\n" in text
    assert "    def decode_step(self, prev, encoder, src_padding):\n" in text
    assert "        decoder = self.decoder(tgt_position, encoder, src_padding, causal)\n" \
           "        head = self.head(decoder)\n        return head\n" in text
    assert "self_attention_weights" not in text  # no pick that nothing reads
    got = _run_file(sys.executable, tmp_path, cases)
    assert got["keys"] == sorted(c.model.state_dict())  # the app's weights file loads
    assert got["tokens"] == [y.tolist() for y in want]
    assert got["ours"] == []


@pytest.mark.slow  # builds a venv with torch (shared by the venv tests)
def test_transformer_python_file_in_a_fresh_torch_only_venv(transformer, tmp_path,
                                                            tmp_path_factory):
    project, w, c, cases, want = transformer
    export(project, w, "python", tmp_path / "transformer_model.py")
    got = _run_file(torch_only_venv(tmp_path_factory), tmp_path, cases)
    assert got["keys"] == sorted(c.model.state_dict())
    assert got["tokens"] == [y.tolist() for y in want]


@pytest.mark.slow  # 40 s: four exports of the decoding loop (the python file stays everyday)
def test_transformer_torchscript_onnx_pt2_and_bundle_decode_like_the_app(transformer,
                                                                        tmp_path):
    import onnxruntime as ort
    project, w, c, cases, want = transformer
    [ts] = export(project, w, "torchscript", tmp_path / "m.pt")
    [ox] = export(project, w, "onnx", tmp_path / "m.onnx")
    [ep] = export(project, w, "pt2", tmp_path / "m.pt2")
    export(project, w, "bundle", tmp_path / "b")
    ts = torch.jit.load(str(ts))
    sess = ort.InferenceSession(str(ox))
    ep = torch.export.load(str(ep)).module()
    again = trained_model(load(tmp_path / "b" / "project.json"), tmp_path / "b")
    again.model.eval()
    for x, y in zip(cases, want):
        with torch.no_grad():
            assert torch.equal(ts(x), y)
            assert torch.equal(ep(x), y)
            assert torch.equal(again.model(x), y)
        assert (sess.run(None, {"date": x.numpy()})[0] == y.numpy()).all()


def _straddling() -> Graph:
    """A block whose one path embeds the source (the model) and whose other embeds the
    tokens so far (the decoder's step): it runs partly in each."""
    g = Graph()
    d = g.add_block("two", "Two embeddings")
    b = d.graph
    for i, o, e in (("a", "ya", "e1"), ("b", "yb", "e2")):
        b.add_node("BlockInput", i)
        b.add_node("Embedding", e, {"num_embeddings": 12, "embedding_dim": 8})
        b.add_node("BlockOutput", o)
        b.connect(i, "out", e, "x")
        b.connect(e, "y", o, "x")
    g.add_node("Input", "src", {"shape": ["S"], "dtype": "int64"})
    g.add_node("block:two", "two")
    g.add_node("GRU", "enc", {"hidden_size": 8})
    g.add_node("Target", "tgt", {"shape": ["T"], "dtype": "int64"})
    g.add_node("TeacherForcing", "prev")
    g.add_node("GRU", "dec", {"hidden_size": 8})
    g.add_node("Linear", "head", {"out_features": 12})
    g.add_node("CategoricalCrossEntropyLoss", "loss", {"from_logits": True})
    g.add_node("GreedyDecode", "decode", {"max_len": 5})
    g.add_node("Output", "out")
    g.connect("src", "out", "two", "a")
    g.connect("two", "ya", "enc", "x")
    g.connect("tgt", "out", "prev", "target")
    g.connect("prev", "tokens", "two", "b")
    g.connect("two", "yb", "dec", "x")
    g.connect("enc", "h", "dec", "h0")
    g.connect("dec", "y", "head", "x")
    g.connect("head", "y", "loss", "pred")
    g.connect("tgt", "out", "loss", "target")
    g.connect("head", "y", "decode", "logits")
    g.connect("decode", "tokens", "out", "x")
    return g


def test_a_block_run_partly_in_the_model_and_partly_in_the_step_is_refused(tmp_path):
    g = _straddling()
    c = compile_graph(g)
    assert list(c.steps) == ["decode"]
    why = format_refusal(c, "python")
    assert why is not None and "'two' runs partly in the model and partly in the decoder's" \
        in why and "TorchScript" in why
    project = Project(graph=g, name="straddle")
    with pytest.raises(ExportError, match="Python file: the block 'two' runs partly"):
        export(project, None, "python", tmp_path / "m.py")
    assert not list(tmp_path.iterdir())
    [f] = export(project, None, "torchscript", tmp_path / "m.pt")  # the others still work
    with torch.no_grad():
        assert torch.jit.load(str(f))(torch.randint(0, 12, (3, 6))).shape == (3, 5)


@pytest.mark.parametrize("share", [False, True])
def test_transformer_with_repeated_layers_python_file_decodes_like_the_app(share, tmp_path):
    """Encoder and decoder layers repeated twice (own weights, or one layer's run twice): the
    forward and the step call each repetition (fresh weights, the file run in-process)."""
    project = load(ROOT / "templates" / "transformer.json")
    for n in ("encoder", "decoder"):
        project.graph.set_param(n, "repeat", 2)
        project.graph.set_param(n, "share_weights", share)
    torch.manual_seed(3)
    c = trained_model(project, None)
    c.model.eval()
    save_weights(c.model, tmp_path / "w.safetensors")
    [f, w] = export(project, tmp_path / "w.safetensors", "python", tmp_path / "m.py")
    ns = {"__name__": "m"}
    exec(compile(f.read_text(), str(f), "exec"), ns)
    m = ns["load"](str(w))
    assert sorted(m.state_dict()) == sorted(c.model.state_dict())
    for x in _cases():
        with torch.no_grad():
            assert torch.equal(m(x), c.model(x))
