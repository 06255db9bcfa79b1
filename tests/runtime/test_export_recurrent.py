"""Recurrent models export (issue 10, item 7): the lstm, gru, rnn and char_lstm templates, an LSTM
whose sequence and states all reach Outputs, and an Elman RNN over a sequence of any length,
round-trip through every format, at two batch sizes and two sequence lengths that the export
never saw (the example it traces has batch 2, T = 5)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from graph.model import Graph
from graph.project import Project, load
from runtime.codegen import example_lengths, used_ops
from runtime.export import ExportError, dynamic_shapes, example_inputs, export, trained_model
from runtime.weights import save_weights
from tests.runtime.test_export import torch_only_venv

ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-5
TEMPLATES = ["lstm", "gru", "rnn", "char_lstm"]
MODELS = TEMPLATES + ["two_states", "rnn_seq"]
# (batch, T) of the two checks; rnn.json reads the 8 rows of a digit: its T is fixed at 8
CASES = [(3, 4), (7, 11)]


def two_states() -> Project:
    """Inputs x (N × T × 3) and extra (N × T × 2), the same T, joined and read by a 2-layer
    bidirectional LSTM whose initial state h0 is wired (c0 is not); its sequence y and final
    states h and c are the Outputs seq, state and cell."""
    g = Graph()
    g.add_node("Input", "x", {"shape": ["T", 3]})
    g.add_node("Input", "extra", {"shape": ["T", 2]})
    g.add_node("Input", "h0", {"shape": [4, 4]})
    g.add_node("Concat", "cat", {"dim": 2})
    g.connect("x", "out", "cat", "x")
    g.connect("extra", "out", "cat", "x")
    g.add_node("LSTM", "lstm", {"hidden_size": 4, "num_layers": 2, "bidirectional": True})
    g.connect("cat", "y", "lstm", "x")
    g.connect("h0", "out", "lstm", "h0")
    for out, port in [("seq", "y"), ("state", "h"), ("cell", "c")]:
        g.add_node("Output", out)
        g.connect("lstm", port, out, "x")
    return Project(graph=g, name="Two states")


def rnn_seq() -> Project:
    """An Elman RNN (ReLU, 2 layers, bidirectional) over x (N × T × 3): its sequence and final
    state are the Outputs seq and state. (rnn.json reads digits row by row: its T is 8.)"""
    g = Graph()
    g.add_node("Input", "x", {"shape": ["T", 3]})
    g.add_node("RNN", "rnn", {"hidden_size": 4, "nonlinearity": "relu", "num_layers": 2,
                              "bidirectional": True})
    g.connect("x", "out", "rnn", "x")
    for out, port in [("seq", "y"), ("state", "h")]:
        g.add_node("Output", out)
        g.connect("rnn", port, out, "x")
    return Project(graph=g, name="RNN sequence")


def project_of(name: str) -> Project:
    made = {"two_states": two_states, "rnn_seq": rnn_seq}
    return made[name]() if name in made else load(ROOT / "templates" / f"{name}.json")


def case_inputs(c, batch: int, length: int, seed: int) -> tuple:
    """Random inputs: floats in U(0, 1), token ids anywhere below the Embedding's vocabulary."""
    gen = torch.Generator().manual_seed(seed)
    lengths = {k: length for k in example_lengths(c)}
    vocab = min([c.graph.params(n)["num_embeddings"] for n in c.graph.nodes()
                 if c.graph.node_type(n) == "Embedding"] or [1])
    return tuple(torch.randint(0, vocab, x.shape, generator=gen) if x.dtype == torch.long
                 else torch.rand(x.shape, generator=gen)
                 for x in example_inputs(c, batch=batch, lengths=lengths))


def flat(out) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """name -> (project, weights file, compiled model, [(inputs, outputs)] for CASES): random
    weights (seeded), saved as safetensors."""
    folder = tmp_path_factory.mktemp("recurrent")
    out = {}
    for name in MODELS:
        project = project_of(name)
        torch.manual_seed(0)
        c = trained_model(project, None)
        w = folder / f"{name}.safetensors"
        save_weights(c.model, w)
        cases = []
        for i, (batch, length) in enumerate(CASES):
            args = case_inputs(c, batch, length, seed=i)
            with torch.no_grad():
                cases.append((args, flat(c.model(*args))))
        out[name] = project, w, c, cases
    return out


def assert_close(got, want) -> None:
    got = [torch.as_tensor(g) for g in flat(got)]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        assert (g - w).abs().max() <= TOL


def test_the_cases_are_what_they_say(models):
    for name in MODELS:
        _, _, c, cases = models[name]
        for (batch, length), (args, _) in zip(CASES, cases):
            assert args[0].shape[:2] == (batch, 8 if name == "rnn" else length)
    _, _, c, [(args, _), _] = models["char_lstm"]
    assert args[0].dtype == torch.long and args[0].max() > 0  # real tokens, not just zeros


def test_example_inputs_give_every_size_a_length():
    c = trained_model(two_states(), None)
    assert example_lengths(c) == {"T": 5}  # not the batch (2), shared by x and extra
    x, extra, h0 = example_inputs(c)
    assert (x.shape, extra.shape, h0.shape) == ((2, 5, 3), (2, 5, 2), (2, 4, 4))
    x, extra, _ = example_inputs(c, batch=5, lengths={"T": 9})
    assert x.shape == (5, 9, 3) and extra.shape == (5, 9, 2)
    assert example_lengths(c, batch=5) == {"T": 6}
    dims = dynamic_shapes(c)
    assert dims["x"][1] is dims["extra"][1] and dims["x"][0] is dims["h0"][0]
    assert set(dims["h0"]) == {0} and dims["x"][1].__name__ == "T"
    [tokens] = example_inputs(trained_model(load(ROOT / "templates" / "char_lstm.json"), None))
    assert tokens.dtype == torch.long and tokens.shape == (2, 5) and not tokens.any()


@pytest.mark.parametrize("name", MODELS)
def test_bundle(models, name, tmp_path):
    project, w, c, cases = models[name]
    export(project, w, "bundle", tmp_path / "b")
    again = trained_model(load(tmp_path / "b" / "project.json"), tmp_path / "b")
    for args, want in cases:
        with torch.no_grad():
            assert_close(again.model(*args), want)


@pytest.mark.parametrize("name", MODELS)
def test_torchscript_takes_other_lengths_and_batches(models, name, tmp_path):
    """A trace of nn.LSTM/GRU/RNN records one aten op that reads the sizes of its input: the
    trace made at batch 2, T = 5 gives the model's outputs at (3, 4) and (7, 11)."""
    project, w, c, cases = models[name]
    [f] = export(project, w, "torchscript", tmp_path / "m.pt")
    m = torch.jit.load(str(f))
    for args, want in cases:
        with torch.no_grad():
            assert_close(m(*args), want)


def test_a_trace_that_fixes_a_size_is_refused(models, tmp_path, monkeypatch):
    project, w, c, cases = models["lstm"]
    fixed = torch.jit.trace  # what a trace that baked in T = 5 would give

    def trace(model, args, **kw):
        traced = fixed(model, args, **kw)
        return lambda *a: traced(*(x[:, :5] for x in a))
    monkeypatch.setattr(torch.jit, "trace", trace)
    with pytest.raises(ExportError, match="trace does not generalise: at batch = 3, T = 7"):
        export(project, w, "torchscript", tmp_path / "m.pt")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", [  # two every day, the rest in the full tier
    pytest.param(n, marks=() if i < 2 else pytest.mark.slow) for i, n in enumerate(MODELS)])
def test_onnx_has_dynamic_batch_and_length_in_onnxruntime(models, name, tmp_path, capfd):
    import onnx
    import onnxruntime as ort
    project, w, c, cases = models[name]
    [f] = export(project, w, "onnx", tmp_path / "m.onnx")
    onnx.checker.check_model(str(f), full_check=True)
    s = ort.InferenceSession(str(f))
    assert [i.name for i in s.get_inputs()] == c.inputs
    assert [o.name for o in s.get_outputs()] == c.outputs
    for i in s.get_inputs():
        t = c.analysis.out_type(i.name, c.graph.spec(i.name).value_port)
        assert i.shape == list(t.shape)  # ['N', 'T', 2]: the names of the sizes the data sets
    for o, n in zip(s.get_outputs(), c.outputs):  # not the example's 5 for T
        assert o.shape == list(c.analysis.edge_type(c.graph.in_edges(n)[0]).shape)
    for args, want in cases:
        assert_close(s.run(None, {n: a.numpy() for n, a in zip(c.inputs, args)}), want)
    assert "VerifyOutputSizes" not in capfd.readouterr().err  # no shape the model contradicts
    if name != "rnn":  # a length the data sets: ONNX's own recurrent op, not steps unrolled
        ops = {node.op_type for node in onnx.load(str(f)).graph.node}
        assert ops & {"LSTM", "GRU", "RNN"}, ops


def test_a_second_lstm_export_keeps_its_length(models, tmp_path):
    """torch's exporter, twice on an LSTM in one process, keeps T dynamic both times (torch
    2.13 left its unrolled decomposition in a dispatch cache: the second export fixed T = 5 and
    export() then had to fall back to the TorchScript-based exporter)."""
    import onnx
    from runtime.export import _onnx_dynamo
    _, _, c, _ = models["lstm"]
    for i in range(2):
        _onnx_dynamo(c, str(tmp_path / f"{i}.onnx"))
        [x] = onnx.load(str(tmp_path / f"{i}.onnx")).graph.input
        assert [d.dim_param or d.dim_value for d in x.type.tensor_type.shape.dim] == ["N", "T", 2]


def test_onnx_falls_back_to_the_torchscript_exporter(models, tmp_path, monkeypatch):
    """Where torch's exporter fails on a model with a length the data sets, the TorchScript-based
    one writes it; if no exporter keeps the length free, nothing is written."""
    import onnxruntime as ort
    import runtime.export as ex
    project, w, c, cases = models["gru"]

    def fail(c, path):
        raise RuntimeError("no")
    monkeypatch.setattr(ex, "_onnx_dynamo", fail)
    [f] = export(project, w, "onnx", tmp_path / "m.onnx")
    s = ort.InferenceSession(str(f))
    for args, want in cases:
        assert_close(s.run(None, {"x": args[0].numpy()}), want)
    monkeypatch.setattr(ex, "_fixed_size", lambda c, path: "input x has T = 5")
    with pytest.raises(ExportError, match="fixed a size the data sets: input x has T = 5"):
        export(project, w, "onnx", tmp_path / "n.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


@pytest.mark.parametrize("name", MODELS)
def test_python_file(models, name, tmp_path):
    project, w, c, cases = models[name]
    py, weights = export(project, w, "python", tmp_path / f"{name}.py")
    src = py.read_text()
    ns = {"__name__": name}
    exec(compile(src, str(py), "exec"), ns)
    m = ns["load"](str(weights))
    assert set(m.state_dict()) == set(c.model.state_dict())  # nn.LSTM's own names, per node
    for args, want in cases:
        with torch.no_grad():
            assert_close(m(*args), want)
    rec = next(n for n in ("LSTM", "GRU", "RNN") if f"class {n}(nn.{n})" in src)
    assert src.index("def _to_torch_state(") < src.index(f"class {rec}(nn.{rec})")
    assert "runtime" not in src and "import ops" not in src


def test_used_ops_bring_their_helpers(models):
    assert used_ops(models["lstm"][2]) == ["_to_torch_state", "LSTM", "time_step"]
    assert used_ops(models["char_lstm"][2]) == ["_to_torch_state", "LSTM"]
    assert used_ops(models["gru"][2]) == ["_to_torch_state", "GRU", "time_step"]


@pytest.mark.slow  # builds a venv with torch (shared by the venv tests)
def test_python_files_in_a_fresh_venv(models, tmp_path, tmp_path_factory):
    """Every model's standalone file in a venv holding only torch and safetensors, in one
    process: its own __main__ (an example at T = 5) prints its output shapes, and the model it
    loads gives the compiled model's outputs on the cases (other batch sizes and lengths)."""
    for name in MODELS:
        project, w, c, cases = models[name]
        export(project, w, "python", tmp_path / f"{name}.py")
        save_file({f"{i}/{k}": a for i, (args, _) in enumerate(cases)
                   for k, a in enumerate(args)}, tmp_path / f"{name}.inputs.safetensors")
    runner = '''
import importlib, json, runpy, sys
from safetensors.torch import load_file
import torch
sys.path.insert(0, ".")
outs = {}
for name in json.loads(sys.argv[1]):
    print(name, end=" ", flush=True)
    sys.argv = [name + ".py"]
    runpy.run_path(name + ".py", run_name="__main__")
    model = importlib.import_module(name).load()
    inputs = load_file(name + ".inputs.safetensors")  # loading needs no numpy; saving would
    for i in range(len({k.split("/")[0] for k in inputs})):
        args = [inputs[f"{i}/{k}"] for k in range(sum(k.startswith("0/") for k in inputs))]
        with torch.no_grad():
            out = model(*args)
        outs[f"{name}/{i}"] = [o.tolist() for o in (out if isinstance(out, tuple) else (out,))]
with open("outputs.json", "w") as f:
    json.dump(outs, f)  # float32 -> Python float is exact, and so is its repr
'''
    (tmp_path / "runner.py").write_text(runner)
    py = torch_only_venv(tmp_path_factory)
    r = subprocess.run([str(py), "runner.py", json.dumps(MODELS)], cwd=tmp_path,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.splitlines() == [
        "lstm outputs: (2, 1)", "gru outputs: (2, 1)", "rnn outputs: (2, 10)",
        "char_lstm outputs: (2, 5, 97)",
        "two_states outputs: (2, 5, 8), (2, 4, 4), (2, 4, 4)",
        "rnn_seq outputs: (2, 5, 8), (2, 4, 4)"]
    got = json.loads((tmp_path / "outputs.json").read_text())
    for name in MODELS:
        for i, (_, want) in enumerate(models[name][3]):
            assert_close([torch.tensor(o) for o in got[f"{name}/{i}"]], want)


@pytest.mark.slow  # the full tier (make test-all); the everyday tier < 10 min
def test_cli_exports_the_char_model(models, tmp_path):
    """`layerloom export templates/char_lstm.json --format onnx`, as a user runs it."""
    _, w, c, cases = models["char_lstm"]
    r = subprocess.run([sys.executable, "-m", "app.cli", "export", "templates/char_lstm.json",
                        "--weights", str(w), "--format", "onnx",
                        "--out", str(tmp_path / "chars.onnx")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "chars.onnx")
    import onnxruntime as ort
    s = ort.InferenceSession(str(tmp_path / "chars.onnx"))
    args, want = cases[1]
    assert_close(s.run(None, {"chars": args[0].numpy()}), want)


def test_onnx_of_a_decoding_loop_takes_the_fast_exporter_first(tmp_path, monkeypatch):
    """A decoder run max_len times, each time over the tokens so far (attention_seq2seq):
    torch's exporter traced it symbolically for 25-60 s here (each recurrent call decomposed
    through fake tensors and sympy), the TorchScript-based one in under 2 s (issue 23, item
    17). That one goes first, checked in onnxruntime at other sizes as always; torch's
    exporter only where it fails."""
    import onnxruntime as ort
    import runtime.export as ex
    from templates import find
    project = load(find("attention_seq2seq").path)
    torch.manual_seed(3)
    c = trained_model(project, None)
    save_weights(c.model, tmp_path / "w.safetensors")
    used = []
    real = {"dynamo": ex._onnx_dynamo, "torchscript": ex._onnx_torchscript}
    for name in real:
        monkeypatch.setattr(ex, f"_onnx_{name}", lambda c, path, _n=name:
                            used.append(_n) or real[_n](c, path))
    [f] = export(project, tmp_path / "w.safetensors", "onnx", tmp_path / "m.onnx")
    assert used == ["torchscript"]
    s = ort.InferenceSession(str(f))
    for n, length in ((1, 4), (5, 19)):
        x = torch.randint(3, 40, (n, length))
        with torch.no_grad():
            want = c.model(x)
        assert (s.run(None, {"date": x.numpy()})[0] == want.numpy()).all()
    used.clear()  # where the TorchScript-based exporter fails, torch's own writes it

    def fail(c, path):
        used.append("torchscript")
        raise RuntimeError("no")
    monkeypatch.setattr(ex, "_onnx_torchscript", fail)
    monkeypatch.setattr(ex, "_onnx_dynamo", lambda c, path:  # (the real one: 25 s or more)
                        used.append("dynamo") or real["torchscript"](c, path))
    export(project, tmp_path / "w.safetensors", "onnx", tmp_path / "n.onnx")
    assert used == ["torchscript", "dynamo"]
