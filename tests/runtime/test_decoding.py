"""Training and inference phases (issue 11): teacher forcing in training, greedy decoding in the
model that exports; the sequence-to-sequence datasets and the exact-match metric."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graph.analysis import analyse
from graph.model import Graph
from graph.project import load
from runtime import metrics as M
from runtime import ops
from runtime.data import seq2seq as s2s
from runtime.compile import compile_graph
from runtime.data import DataError, load_dataset
from runtime.export import ExportError, export
from runtime.train import Trainer

ROOT = Path(__file__).resolve().parents[2]
SEQ2SEQ = ("encoder_decoder", "attention_seq2seq", "transformer")


def template(name):
    return load(ROOT / "templates" / f"{name}.json")


@pytest.mark.parametrize("name", SEQ2SEQ)
def test_the_model_is_the_inference_graph(name):
    c = compile_graph(template(name).graph)
    assert c.inputs == ["date"] and c.outputs == ["iso_date"]  # no target in the model
    assert list(c.steps) == ["decode"]
    assert "decode" not in {n.name for n in c.objective.graph.nodes}  # training: no loop
    assert "prev" in {n.name for n in c.objective.graph.nodes}  # ... but teacher forcing
    assert [n.name for n in c.steps["decode"].graph.nodes if n.op == "placeholder"][0] == "prev"
    # every layer's weights are in the model's state dict once, by node name
    keys = set(c.model.state_dict())
    assert {"tgt_embed.weight", "head.weight"} <= keys
    assert keys == set(c.modules.state_dict())


def test_greedy_decode_equals_a_hand_written_loop():
    torch.manual_seed(0)
    c = compile_graph(template("encoder_decoder").graph)
    c.model.eval()
    m = c.modules
    x = torch.randint(3, 50, (4, 9))
    got = c.model(x)
    with torch.no_grad():
        _, h = m.encoder(m.src_embed(x))
        tokens = torch.full((4, 1), s2s.START_ID)
        out, done = [], torch.zeros(4, dtype=torch.bool)
        for _ in range(11):  # by hand: rerun the decoder on the prefix, take the argmax
            y, _ = m.decoder(m.tgt_embed(tokens), h0=h)
            nxt = m.head(y)[:, -1].argmax(-1)
            nxt = torch.where(done, torch.zeros_like(nxt), nxt)
            out.append(nxt)
            done |= nxt == s2s.END_ID
            tokens = torch.cat([tokens, nxt[:, None]], 1)
    assert torch.equal(got, torch.stack(out, 1))
    assert got.shape == (4, 11) and got.dtype == torch.long


def test_decoding_stops_when_every_row_has_ended_and_pads_after_the_end():
    calls = []

    def step(tokens, context):
        calls.append(tokens.shape[1])
        scores = torch.zeros(tokens.shape[0], tokens.shape[1], 5)
        t = tokens.shape[1]
        # row 0 says 3 then ends; row 1 says 4, 4, then ends
        want = torch.tensor([3 if t == 1 else 2, 4 if t <= 2 else 2])
        scores[torch.arange(2), -1, want] = 1.0
        return scores

    d = ops.GreedyDecode(max_len=6, end=2, pad=0)
    d.bind(step, start=1, batch_from=0)
    out = d(torch.zeros(2, 7))
    assert out.tolist() == [[3, 2, 0, 0, 0, 0], [4, 4, 2, 0, 0, 0]]
    assert calls == [1, 2, 3]  # no step after every row ended


def test_shift_right_is_teacher_forcing():
    y = torch.tensor([[5, 6, 2], [7, 2, 0]])
    assert ops.shift_right(y, start=1).tolist() == [[1, 5, 6], [1, 7, 2]]


def test_exact_match_counts_whole_sequences_up_to_the_end_token():
    truth = torch.tensor([[5, 6, 2, 0], [7, 2, 0, 0], [8, 8, 8, 2]])
    got = torch.tensor([[5, 6, 2, 9, 9], [7, 3, 2, 0, 0], [8, 8, 8, 2, 4]])
    # row 0: equal up to its end (what follows does not count); row 1 wrong; row 2 right
    assert M.exact_match(got, truth, end=2, pad=0) == pytest.approx(2 / 3)
    assert M.exact_match(got[:, :3], truth, end=2, pad=0) == pytest.approx(1 / 3)


def _decoder_graph(with_decode=True, extra_target=False) -> Graph:
    g = Graph()
    g.add_node("Input", "src", {"shape": ["S"], "dtype": "int64"})
    g.add_node("Embedding", "emb", {"num_embeddings": 12, "embedding_dim": 8})
    g.add_node("GRU", "enc", {"hidden_size": 8})
    g.add_node("Target", "tgt", {"shape": ["T"], "dtype": "int64"})
    g.add_node("TeacherForcing", "prev")
    g.add_node("Embedding", "temb", {"num_embeddings": 12, "embedding_dim": 8})
    g.add_node("GRU", "dec", {"hidden_size": 8})
    g.add_node("Linear", "head", {"out_features": 12})
    g.add_node("CategoricalCrossEntropyLoss", "loss", {"from_logits": True})
    g.connect("src", "out", "emb", "x")
    g.connect("emb", "y", "enc", "x")
    g.connect("tgt", "out", "prev", "target")
    g.connect("prev", "tokens", "temb", "x")
    g.connect("temb", "y", "dec", "x")
    g.connect("enc", "h", "dec", "h0")
    g.connect("dec", "y", "head", "x")
    g.connect("head", "y", "loss", "pred")
    g.connect("tgt", "out", "loss", "target")
    if with_decode:
        g.add_node("GreedyDecode", "decode", {"max_len": 5})
        g.add_node("Output", "out")
        g.connect("head", "y", "decode", "logits")
        g.connect("decode", "tokens", "out", "x")
    else:
        g.add_node("Output", "out")
        g.connect("head", "y", "out", "x")
    if extra_target:
        g.add_node("Embedding", "leak", {"num_embeddings": 12, "embedding_dim": 8})
        g.add_node("Add", "mix")
        g.disconnect(next(e for e in g.in_edges("dec", "x")))
        g.connect("tgt", "out", "leak", "x")
        g.connect("temb", "y", "mix", "x")
        g.connect("leak", "y", "mix", "x")
        g.connect("mix", "y", "dec", "x")
    return g


def test_an_output_that_depends_on_a_target_is_a_warning_naming_both():
    a = analyse(_decoder_graph(with_decode=False))
    assert a.ok
    msgs = [str(i) for i in a.issues if i.severity == "warning"]
    assert any("out:" in m and "Teacher forcing 'prev'" in m and "Target 'tgt'" in m
               for m in msgs), msgs
    assert any("prev:" in m and "no Greedy decode" in m for m in msgs), msgs
    c = compile_graph(_decoder_graph(with_decode=False))
    assert c.outputs == []  # said, not silent: the warnings above
    g = _decoder_graph(with_decode=False)  # an Output reading a Target plainly
    g.add_node("Linear", "peek", {"out_features": 2})
    g.add_node("Output", "peek_out")
    g.add_node("Embedding", "temb2", {"num_embeddings": 12, "embedding_dim": 8})
    g.connect("tgt", "out", "temb2", "x")
    g.connect("temb2", "y", "peek", "x")
    g.connect("peek", "y", "peek_out", "x")
    msgs = [str(i) for i in analyse(g).issues if i.severity == "warning"]
    assert any(m.startswith("peek_out:") and "depends on Target 'tgt'" in m for m in msgs), msgs


def test_a_decoder_that_reads_the_target_besides_teacher_forcing_is_an_error():
    a = analyse(_decoder_graph(extra_target=True))
    errs = [str(e) for e in a.errors]
    assert any(e.startswith("mix:") and "'tgt'" in e and "training only" in e for e in errs), errs


def test_greedy_decode_without_teacher_forcing_is_an_error_on_the_node():
    g = Graph()
    g.add_node("Input", "x", {"shape": ["T", 4]})
    g.add_node("Linear", "head", {"out_features": 6})
    g.add_node("GreedyDecode", "decode")
    g.connect("x", "out", "head", "x")
    g.connect("head", "y", "decode", "logits")
    errs = analyse(g).errors
    assert errs and errs[0].node == "decode" and "Teacher forcing" in errs[0].message


def test_training_only_and_inference_only_nodes():
    g = Graph()
    g.add_node("Input", "x", {"shape": [4]})
    g.add_node("Linear", "lin", {"out_features": 3})
    g.add_node("TrainingOnly", "aux")
    g.add_node("Output", "aux_out")
    g.add_node("InferenceOnly", "post")
    g.add_node("Softmax", "soft", {"dim": 1})
    g.add_node("Output", "probs")
    g.add_node("Target", "y", {"shape": [], "dtype": "int64"})
    g.add_node("CategoricalCrossEntropyLoss", "loss", {"from_logits": True})
    g.connect("x", "out", "lin", "x")
    g.connect("lin", "y", "aux", "x")
    g.connect("aux", "y", "aux_out", "x")
    g.connect("lin", "y", "post", "x")
    g.connect("post", "y", "soft", "x")
    g.connect("soft", "y", "probs", "x")
    g.connect("lin", "y", "loss", "pred")
    g.connect("y", "out", "loss", "target")
    c = compile_graph(g)
    assert c.outputs == ["probs"]
    objective_nodes = {n.name for n in c.objective.graph.nodes}
    assert "soft" not in objective_nodes and "aux" in objective_nodes
    out = c.model(torch.randn(2, 4))
    assert torch.allclose(out.sum(1), torch.ones(2))


def test_the_trainer_reports_exact_match_of_the_greedy_decoding():
    p = template("encoder_decoder")
    p.data.options = {"n_samples": 300}
    events = list(Trainer(p, max_steps=3).run())
    done = events[-1]
    assert type(done).__name__ == "Finished", done
    assert 0.0 <= done.metrics["val_exact_match"] <= 1.0
    assert "exact_match" not in done.metrics  # measured on held-out data only


def test_dates_dataset():
    d = load_dataset("dates", {"n_samples": 500}, seed=3)
    x, y = d.fields["x"], d.fields["y"]
    assert x.dtype == y.dtype == torch.long and y.shape == (500, 11)
    assert (y[:, -1] == s2s.END_ID).all()
    iso = [s2s.decode(r, d.vocab) for r in y]
    assert len(set(iso)) == 500  # each date once: a held-out date is new
    import datetime
    for src, out in zip(x[:50], iso[:50]):
        text = s2s.decode(src, d.vocab)
        day = datetime.date.fromisoformat(out)
        assert str(day.year) in text
        assert (str(day.day) in text) or (f"{day.day:02d}" in text)
    assert (x == s2s.PAD_ID).any()  # shorter dates are padded
    assert d.vocab[:3] == [s2s.PAD, s2s.START, s2s.END]
    with pytest.raises(DataError, match="73,049 days"):
        s2s.make_dates(0, 80000)


def test_reverse_and_copy_datasets():
    r = load_dataset("reverse", {"n_samples": 200, "min_len": 2, "max_len": 6}, seed=1)
    c = load_dataset("copy", {"n_samples": 200, "min_len": 2, "max_len": 6}, seed=1)
    for i in range(20):
        src = s2s.decode(r.fields["x"][i], r.vocab)
        assert s2s.decode(r.fields["y"][i], r.vocab) == src[::-1]
        assert s2s.decode(c.fields["y"][i], c.vocab) == s2s.decode(c.fields["x"][i], c.vocab)
        assert 2 <= len(src) <= 6
    assert r.fields["x"].shape[1] == 6 and r.fields["y"].shape[1] == 7


def test_encode_and_decode():
    v = s2s.DATE_VOCAB
    ids = s2s.encode("Aug 29, 1958", v, end=True)
    assert ids[-1] == s2s.END_ID and s2s.decode(ids + [7, 7], v) == "Aug 29, 1958"
    assert s2s.encode("Aug§", v)[-1] == s2s.UNKNOWN_ID


def test_the_exported_python_file_decodes_like_the_model(tmp_path):
    torch.manual_seed(0)
    p = template("attention_seq2seq")
    c = compile_graph(p.graph)
    from runtime.weights import save_weights
    save_weights(c.model, tmp_path / "w.safetensors")
    export(p, tmp_path / "w.safetensors", "python", tmp_path / "dates_model.py")
    from runtime.tryout import Tryout  # what the app's Try panel shows for the typed text
    p.data.options = {"n_samples": 100}
    t = Tryout(p, None, tmp_path / "w.safetensors")
    width = t.val["date"].shape[-1]  # typed text is padded like the data it trained on
    x = torch.tensor([s2s.encode(s_, s2s.DATE_VOCAB) + [0] * (width - len(s_))
                      for s_ in ("Aug 29, 1958", "03/30/1968")])
    torch.save(x, tmp_path / "x.pt")
    code = ("import sys, torch; sys.path.insert(0, sys.argv[1]); from dates_model import load\n"
            "m = load(); x = torch.load(sys.argv[1] + '/x.pt')\n"
            "print(m(x).tolist())\n")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                       text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    c.model.eval()
    rows = eval(r.stdout)
    with torch.no_grad():
        assert rows == c.model(x).tolist()
    for text, row in zip(("Aug 29, 1958", "03/30/1968"), rows):
        assert t.translate(text).output == s2s.decode(row, s2s.DATE_VOCAB)


@pytest.mark.parametrize("name", SEQ2SEQ)
def test_torchscript_and_onnx_hold_the_whole_decoding_loop(tmp_path, name):
    """The loop traces with all its max_len steps (the same tokens as stopping early): the
    TorchScript archive and the ONNX model translate like the model, at any batch size and
    any source length."""
    import onnxruntime as ort
    torch.manual_seed(1)
    p = template(name)
    c = compile_graph(p.graph)
    from runtime.weights import save_weights
    save_weights(c.model, tmp_path / "w.safetensors")
    export(p, tmp_path / "w.safetensors", "torchscript", tmp_path / "m.pt")
    export(p, tmp_path / "w.safetensors", "onnx", tmp_path / "m.onnx")
    ts = torch.jit.load(str(tmp_path / "m.pt"))
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"))
    assert [i.shape for i in sess.get_inputs()] == [["N", "S"]]
    c.model.eval()
    for n, length in ((1, 4), (6, 17), (3, 29)):
        x = torch.randint(3, len(s2s.DATE_VOCAB), (n, length))
        with torch.no_grad():
            want = c.model(x)
        assert torch.equal(ts(x), want)
        assert (sess.run(None, {"date": x.numpy()})[0] == want.numpy()).all()


@pytest.mark.parametrize("name, nodes, heads", [("encoder_decoder", [], 0),
                                                ("attention_seq2seq", ["attention"], 1),
                                                ("transformer", ["decoder.cross_attention",
                                                                 "decoder.self_attention"], 4)])
def test_tryout_translates_and_gives_the_attention_weights(tmp_path, name, nodes, heads):
    from runtime.tryout import TryError, Tryout
    from runtime.weights import save_weights
    torch.manual_seed(2)
    p = template(name)
    p.data.options = {"n_samples": 200}
    c = compile_graph(p.graph)
    save_weights(c.model, tmp_path / "w.safetensors")
    t = Tryout(p, None, tmp_path / "w.safetensors")
    assert t.attention_nodes() == nodes
    r = t.translate("Aug 29, 1958")
    assert r.source == "Aug 29, 1958" and r.source_tokens[:3] == ["A", "u", "g"]
    c2 = t.compiled
    ids = s2s.encode("Aug 29, 1958", s2s.DATE_VOCAB)
    padded = ids + [s2s.PAD_ID] * (t.val["date"].shape[-1] - len(ids))  # as it trained
    with torch.no_grad():
        want = c2.model(torch.tensor([padded]))[0]
    assert r.output == s2s.decode(want, s2s.DATE_VOCAB)  # the model's own greedy decoding
    assert sorted(r.attention) == sorted(nodes)
    if nodes:
        a = r.attention[nodes[0]]
        assert a.shape == (heads, len(r.output_tokens), 12)
        assert abs(a.sum(-1) - 1).max() < 1e-5  # a distribution over the input per output
    with pytest.raises(TryError, match="type something"):
        t.translate("   ")


def test_accuracy_leaves_out_the_ignored_padding_like_the_loss():
    records = [torch.tensor([[5, 6, 9, 9], [7, 3, 9, 9]])]
    target = torch.tensor([[5, 6, 0, 0], [7, 2, 0, 0]])
    assert M.finish("accuracy/argmax_last", records, target) == pytest.approx(3 / 8)
    assert M.finish("accuracy/argmax_last", records, target, ignore=0) == pytest.approx(3 / 4)


@pytest.mark.slow  # over 4.5 s: the full tier (the everyday one stays under 10 min)
def test_the_vocabulary_goes_with_every_export(tmp_path):
    import json
    p = template("encoder_decoder")
    c = compile_graph(p.graph)
    from runtime.weights import save_weights
    save_weights(c.model, tmp_path / "w.safetensors")
    export(p, tmp_path / "w.safetensors", "bundle", tmp_path / "bundle")
    assert json.loads((tmp_path / "bundle" / "vocab.json").read_text()) == s2s.DATE_VOCAB
    export(p, tmp_path / "w.safetensors", "torchscript", tmp_path / "m.pt")
    extra = {"vocab.json": ""}
    torch.jit.load(str(tmp_path / "m.pt"), _extra_files=extra)
    assert json.loads(extra["vocab.json"]) == s2s.DATE_VOCAB
    export(p, tmp_path / "w.safetensors", "onnx", tmp_path / "m.onnx")
    import onnxruntime as ort
    meta = ort.InferenceSession(str(tmp_path / "m.onnx")).get_modelmeta().custom_metadata_map
    assert json.loads(meta["vocab"]) == s2s.DATE_VOCAB
    export(p, tmp_path / "w.safetensors", "python", tmp_path / "dates_model.py")
    r = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                        "import dates_model; print(dates_model.VOCAB == sys.argv[2:])",
                        str(tmp_path), *s2s.DATE_VOCAB], capture_output=True, text=True,
                       timeout=60)
    assert r.stdout.strip() == "True", r.stderr
    mlp = load(ROOT / "templates" / "mlp.json")  # data without a vocabulary: none written
    cm = compile_graph(mlp.graph)
    save_weights(cm.model, tmp_path / "m.safetensors")
    export(mlp, tmp_path / "m.safetensors", "bundle", tmp_path / "mlp_bundle")
    assert not (tmp_path / "mlp_bundle" / "vocab.json").exists()


@pytest.mark.slow  # over 4.5 s: the full tier (the everyday one stays under 10 min)
def test_bf16_autocast_trains_the_transformer_with_float32_weights():
    p = template("transformer")
    p.data.options = {"n_samples": 600}
    p.training.precision = "bf16"
    p.training.lr = 0.003
    t = Trainer(p, max_steps=24, log_every=4)
    seen = []
    events = []
    for ev in t.run():
        events.append(ev)
        if type(ev).__name__ == "Started":  # the model is built: watch a forward's dtype
            t.compiled.modules.get_submodule("head").register_forward_hook(
                lambda _m, _i, out: seen.append(out.dtype))
    assert type(events[-1]).__name__ == "Finished", events[-1]
    losses = [e.loss for e in events if type(e).__name__ == "Step"]
    assert losses[-1] < losses[0]
    assert torch.bfloat16 in seen  # the forward ran in bfloat16 ...
    assert all(p_.dtype == torch.float32 for p_ in t.compiled.modules.parameters())  # ... weights not
    assert 0 <= events[-1].metrics["val_exact_match"] <= 1


def test_a_greedy_decode_wired_to_no_output_trains_without_exact_match():
    g = _decoder_graph()
    g.remove_node("out")
    p = template("encoder_decoder")
    p.graph = g
    p.data.bind = {"src": "x", "tgt": "y"}
    p.data.options = {"n_samples": 200}
    g.set_param("emb", "num_embeddings", 50)
    g.set_param("temb", "num_embeddings", 50)
    g.set_param("head", "out_features", 50)
    events = list(Trainer(p, max_steps=4).run())
    assert type(events[-1]).__name__ == "Finished", events[-1]
    assert "val_exact_match" not in events[-1].metrics
