"""Attention nodes (issue 11, item 2), with torch as the oracle: each score function of the
encoder-decoder Attention equals the seed's formula written out with torch ops on the same
weights; scaled dot-product attention equals softmax(Q Kᵀ / √d_k) V with and without masks;
multi-head attention equals torch.nn.MultiheadAttention with copied weights; causal masks
keep the future out; positional encodings and LayerNorm; shape-rule errors on the port at
fault; every node compiled in a graph and its generated code run."""
import ast
import functools
import inspect
import math
import operator
import random

import pytest
import torch
import torch.nn.functional as F

from graph import catalogue
from graph.analysis import analyse
from graph.model import Graph
from graph.spec import BuildContext, Make, ShapeContext, ShapeError, TensorType
from runtime import ops
from runtime.codegen import module_source, used_ops
from runtime.compile import compile_graph, resolve

NEW = ("Attention", "ScaledDotProductAttention", "MultiHeadAttention", "PositionalEncoding",
       "LayerNorm", "CausalMask", "PaddingMask")


def run(c, *xs):
    c.model.eval()
    with torch.no_grad():
        out = c.model(*xs)
    return dict(zip(c.outputs, out if isinstance(out, tuple) else (out,)))


def outputs(g, node, ports):
    for port in ports:
        g.add_node("Output", f"out_{port}")
        g.connect(node, port, f"out_{port}", "x")


def padding(ids_shape, lengths, pad=0):
    """Token ids 1..9 with the steps after each length set to `pad`."""
    ids = torch.randint(1, 10, ids_shape)
    for n, length in enumerate(lengths):
        ids[n, length:] = pad
    return ids


# Encoder-decoder attention: the seed's formula ---------------------------------------------

def attention_graph(score, d_q=6, d_k=6, value=None, mask=False, step=False, **params):
    g = Graph()
    g.add_node("Input", "s", {"shape": [d_q] if step else ["T", d_q]})
    g.add_node("Input", "h", {"shape": ["S", d_k]})
    g.add_node("Attention", "attn", {"score": score, **params})
    g.connect("s", "out", "attn", "query")
    g.connect("h", "out", "attn", "key")
    if value is not None:
        g.add_node("Input", "v", {"shape": ["S", value]})
        g.connect("v", "out", "attn", "value")
    if mask:
        g.add_node("Input", "ids", {"shape": ["S"], "dtype": "int64"})
        g.add_node("PaddingMask", "pad")
        g.connect("ids", "out", "pad", "x")
        g.connect("pad", "mask", "attn", "key_padding_mask")
    outputs(g, "attn", ("context", "weights"))
    return g


def seed_scores(score, m, s, h):
    """e_tj = score(s_t, h_j), written out one (t, j) pair at a time."""
    n, t_q, t_k = s.shape[0], s.shape[1], h.shape[1]
    e = torch.empty(n, t_q, t_k)
    for b in range(n):
        for t in range(t_q):
            for j in range(t_k):
                st, hj = s[b, t], h[b, j]
                if score == "dot":
                    e[b, t, j] = st @ hj
                elif score == "general":
                    e[b, t, j] = st @ m.W @ hj
                else:
                    e[b, t, j] = m.v @ torch.tanh(m.W_1 @ st + m.W_2 @ hj)
    return e


@pytest.mark.parametrize("score, d_q, d_k", [("dot", 6, 6), ("general", 4, 6),
                                             ("additive", 4, 6)])
def test_each_score_function_equals_the_seed_formula(score, d_q, d_k):
    torch.manual_seed(0)
    c = compile_graph(attention_graph(score, d_q, d_k, attention_dim=5))
    m = c.modules.get_submodule("attn")
    s, h = torch.randn(2, 3, d_q), torch.randn(2, 7, d_k)
    got = run(c, s, h)
    with torch.no_grad():
        e = seed_scores(score, m, s, h)
        alpha = torch.exp(e) / torch.exp(e).sum(-1, keepdim=True)  # α_tj = exp(e_tj) / Σ_k
        context = torch.einsum("ntj,njd->ntd", alpha, h)  # c_t = Σ_j α_tj h_j
    assert torch.allclose(got["out_weights"], alpha, atol=1e-6)
    assert torch.allclose(got["out_context"], context, atol=1e-5)
    assert torch.allclose(got["out_weights"].sum(-1), torch.ones(2, 3))


def test_scores_have_the_named_weights():
    assert dict(ops.Attention("dot", 4, 4).named_parameters()) == {}
    assert {k: tuple(v.shape) for k, v in ops.Attention("general", 3, 5).named_parameters()} \
        == {"W": (3, 5)}
    shapes = {k: tuple(v.shape) for k, v in ops.Attention("additive", 3, 5, 7).named_parameters()}
    assert shapes == {"W_1": (7, 3), "W_2": (7, 5), "v": (7,)}
    a = analyse(attention_graph("additive", 3, 5))  # attention_dim auto: the key's features
    assert compile_graph(attention_graph("additive", 3, 5)).modules.attn.W_2.shape == (5, 5)
    assert a.ok


@pytest.mark.parametrize("score", ["dot", "general", "additive"])
def test_padded_keys_get_no_weight_and_values_are_summed(score):
    torch.manual_seed(1)
    c = compile_graph(attention_graph(score, 6, 6, value=3, mask=True))
    m = c.modules.get_submodule("attn")
    s, h, v = torch.randn(3, 2, 6), torch.randn(3, 5, 6), torch.randn(3, 5, 3)
    ids = padding((3, 5), [5, 3, 1])
    got = run(c, s, h, v, ids)
    w = got["out_weights"]
    assert torch.all(w[1, :, 3:] == 0) and torch.all(w[2, :, 1:] == 0)
    with torch.no_grad():
        for n, length in enumerate([5, 3, 1]):  # the formula over the unpadded keys alone
            e = seed_scores(score, m, s[n:n + 1], h[n:n + 1, :length])
            alpha = torch.softmax(e, -1)
            assert torch.allclose(w[n:n + 1, :, :length], alpha, atol=1e-6)
            assert torch.allclose(got["out_context"][n], (alpha @ v[n:n + 1, :length])[0],
                                  atol=1e-5)


def test_one_decoder_step_gives_one_context():
    g = attention_graph("general", 4, 6, step=True)
    a = analyse(g)
    assert str(a.out_type("attn", "context")) == "N × 6"
    assert str(a.out_type("attn", "weights")) == "N × S"
    c = compile_graph(g)
    s, h = torch.randn(2, 4), torch.randn(2, 5, 6)
    got = run(c, s, h)
    m = c.modules.attn
    with torch.no_grad():
        alpha = torch.softmax(seed_scores("general", m, s[:, None], h)[:, 0], -1)
    assert torch.allclose(got["out_weights"], alpha, atol=1e-6)
    assert torch.allclose(got["out_context"], (alpha[:, None] @ h)[:, 0], atol=1e-5)


# Scaled dot-product attention ---------------------------------------------------------------

def formula(q, k, v, mask=None):
    """softmax(Q Kᵀ / √d_k) V, masked scores −∞."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    w = torch.softmax(scores, -1)
    return w @ v, w


def sdpa_graph(causal_node=False, mask=False, **params):
    g = Graph()
    for name, shape in (("q", ["T", 8]), ("k", ["S", 8]), ("v", ["S", 3])):
        g.add_node("Input", name, {"shape": shape})
    g.add_node("ScaledDotProductAttention", "sdpa", params)
    for name, port in (("q", "query"), ("k", "key"), ("v", "value")):
        g.connect(name, "out", "sdpa", port)
    if mask:
        g.add_node("Input", "ids", {"shape": ["S"], "dtype": "int64"})
        g.add_node("PaddingMask", "pad", {"pad_id": 0})
        g.connect("ids", "out", "pad", "x")
        g.connect("pad", "mask", "sdpa", "key_padding_mask")
    if causal_node:
        g.add_node("CausalMask", "causal")
        g.connect("q", "out", "causal", "x")
        g.connect("causal", "mask", "sdpa", "attn_mask")
    outputs(g, "sdpa", ("out", "weights"))
    return g


def test_scaled_dot_product_equals_the_formula():
    c = compile_graph(sdpa_graph())
    q, k, v = torch.randn(2, 4, 8), torch.randn(2, 6, 8), torch.randn(2, 6, 3)
    got = run(c, q, k, v)
    out, w = formula(q, k, v)
    assert torch.allclose(got["out_out"], out, atol=1e-6)
    assert torch.allclose(got["out_weights"], w, atol=1e-6)


def test_scaled_dot_product_with_a_key_padding_mask_and_a_causal_mask():
    g = sdpa_graph(causal_node=True, mask=True)
    g.set_param("sdpa", "causal", False)
    # q and k of the same length T for a causal mask: one sequence attending to itself
    g.set_param("k", "shape", ["T", 8]), g.set_param("v", "shape", ["T", 3])
    g.set_param("ids", "shape", ["T"])
    c = compile_graph(g)
    q, k, v = torch.randn(3, 5, 8), torch.randn(3, 5, 8), torch.randn(3, 5, 3)
    ids = padding((3, 5), [5, 4, 2])
    got = run(c, q, k, v, ids)
    mask = (ids == 0)[:, None, :] | torch.ones(5, 5, dtype=torch.bool).triu(1)
    out, w = formula(q, k, v, mask)
    assert torch.allclose(got["out_out"], out, atol=1e-6)
    assert torch.allclose(got["out_weights"], w, atol=1e-6)
    assert torch.all(got["out_weights"][mask.expand(3, 5, 5)] == 0)


@pytest.mark.parametrize("case", ["attn 2-D", "attn 3-D", "causal", "causal + padding",
                                  "heads", "heads + 3-D mask"])
def test_the_function_equals_the_formula_with_every_mask(case):
    torch.manual_seed(2)
    heads = case.startswith("heads")
    lead = (2, 3) if heads else (2,)
    q, k, v = torch.randn(*lead, 4, 8), torch.randn(*lead, 6, 8), torch.randn(*lead, 6, 5)
    kw, mask = {}, None
    if case == "attn 2-D":
        kw["attn_mask"] = mask = torch.rand(4, 6) < 0.4
        mask[:, 0] = False
    elif case in ("attn 3-D", "heads + 3-D mask"):
        m = torch.rand(2, 4, 6) < 0.4
        m[..., 0] = False
        kw["attn_mask"] = m
        mask = m[:, None] if heads else m
    elif case.startswith("causal"):
        kw["causal"] = True
        mask = torch.ones(4, 6, dtype=torch.bool).triu(1)
        if case.endswith("padding"):
            kw["key_padding_mask"] = kpm = torch.tensor([[0, 0, 0, 1, 1, 1], [0] * 6]).bool()
            mask = mask | kpm[:, None, :]
    out, w = ops.scaled_dot_product_attention(q, k, v, **kw)
    want_out, want_w = formula(q, k, v, mask)
    assert torch.allclose(out, want_out, atol=1e-6) and torch.allclose(w, want_w, atol=1e-6)


def test_a_query_with_every_key_masked_attends_to_nothing_without_nan():
    q = torch.randn(2, 3, 4, requires_grad=True)
    k = torch.randn(2, 5, 4, requires_grad=True)
    v = torch.randn(2, 5, 2, requires_grad=True)
    kpm = torch.tensor([[True] * 5, [False, False, True, True, True]])
    out, w = ops.scaled_dot_product_attention(q, k, v, key_padding_mask=kpm)
    assert torch.all(out[0] == 0) and torch.all(w[0] == 0)
    assert torch.allclose(out[1], formula(q[1], k[1, :2], v[1, :2])[0], atol=1e-6)
    (out.sum() + w.sum()).backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))
    m = ops.Attention("dot", 4, 4)
    ctx, w = m(q, k, key_padding_mask=kpm)
    assert torch.all(ctx[0] == 0) and not torch.isnan(ctx).any()


# Multi-head attention: torch.nn.MultiheadAttention with copied weights -----------------------

def mha_graph(e=8, kdim=8, vdim=8, masks=(), **params):
    g = Graph()
    g.add_node("Input", "q", {"shape": ["T", e]})
    g.add_node("Input", "k", {"shape": ["S", kdim]})
    g.add_node("Input", "v", {"shape": ["S", vdim]})
    g.add_node("MultiHeadAttention", "mha", params)
    for name, port in (("q", "query"), ("k", "key"), ("v", "value")):
        g.connect(name, "out", "mha", port)
    if "padding" in masks:
        g.add_node("Input", "ids", {"shape": ["S"], "dtype": "int64"})
        g.add_node("PaddingMask", "pad")
        g.connect("ids", "out", "pad", "x")
        g.connect("pad", "mask", "mha", "key_padding_mask")
    if "causal" in masks:
        g.add_node("CausalMask", "causal")
        g.connect("q", "out", "causal", "x")
        g.connect("causal", "mask", "mha", "attn_mask")
    outputs(g, "mha", ("out", "weights"))
    return g


@pytest.mark.parametrize("dims, params, masks", [
    ((8, 8, 8), {"num_heads": 2}, ()),
    ((8, 8, 8), {"num_heads": 4}, ("padding",)),
    ((12, 5, 7), {"num_heads": 3}, ("padding",)),
    ((8, 8, 8), {"num_heads": 2, "bias": False}, ()),
    ((6, 6, 6), {"num_heads": 1}, ("padding", "causal")),
])
def test_multi_head_attention_equals_torch_with_copied_weights(dims, params, masks):
    torch.manual_seed(3)
    e, kdim, vdim = dims
    if "causal" in masks:  # a causal mask is T × T: keys as long as the queries
        g = mha_graph(e, kdim, vdim, masks, **params)
        g.set_param("k", "shape", ["T", kdim]), g.set_param("v", "shape", ["T", vdim])
        g.set_param("ids", "shape", ["T"])
        t_k = 4
    else:
        g = mha_graph(e, kdim, vdim, masks, **params)
        t_k = 6
    c = compile_graph(g)
    ref = torch.nn.MultiheadAttention(e, params["num_heads"], bias=params.get("bias", True),
                                      kdim=kdim, vdim=vdim, batch_first=True)
    ref.load_state_dict(c.modules.mha.state_dict())  # same names, same shapes
    assert sorted(ref.state_dict()) == sorted(c.modules.mha.state_dict())
    ref.eval()
    q, k, v = torch.randn(3, 4, e), torch.randn(3, t_k, kdim), torch.randn(3, t_k, vdim)
    xs, kw = [q, k, v], {}
    if "padding" in masks:
        ids = padding((3, t_k), [t_k, 3, 1])
        xs.append(ids)
        kw["key_padding_mask"] = ids == 0
    if "causal" in masks:
        kw["attn_mask"] = torch.ones(4, 4, dtype=torch.bool).triu(1)
    got = run(c, *xs)
    with torch.no_grad():
        out, avg = ref(q, k, v, **kw)  # average_attn_weights=True
        _, per_head = ref(q, k, v, average_attn_weights=False, **kw)
    assert torch.allclose(got["out_out"], out, atol=1e-5)
    assert got["out_weights"].shape == (3, params["num_heads"], 4, t_k)
    assert torch.allclose(got["out_weights"].mean(1), avg, atol=1e-5)
    assert torch.allclose(got["out_weights"], per_head, atol=1e-5)


def test_multi_head_attention_equals_torch_with_a_per_sample_mask_and_causal_param():
    torch.manual_seed(4)
    m = ops.MultiHeadAttention(8, 2, causal=True).eval()
    ref = torch.nn.MultiheadAttention(8, 2, batch_first=True).eval()
    ref.load_state_dict(m.state_dict())
    x = torch.randn(3, 5, 8)
    per_sample = torch.rand(3, 5, 5) < 0.3
    per_sample[..., 0] = False
    kpm = torch.tensor([[0, 0, 0, 0, 1], [0, 0, 1, 1, 1], [0] * 5]).bool()
    with torch.no_grad():
        out, w = m(x, x, x, key_padding_mask=kpm, attn_mask=per_sample)
        full = per_sample | torch.ones(5, 5, dtype=torch.bool).triu(1)  # causal on top
        want, want_w = ref(x, x, x, key_padding_mask=kpm, average_attn_weights=False,
                           attn_mask=full.repeat_interleave(2, 0))  # torch: (N·H) × T × T
    assert torch.allclose(out, want, atol=1e-5) and torch.allclose(w, want_w, atol=1e-5)


def test_multi_head_attention_starts_like_torch():
    torch.manual_seed(5)
    m = ops.MultiHeadAttention(16, 4)
    ref = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    assert torch.count_nonzero(m.in_proj_bias) == 0 and torch.count_nonzero(m.out_proj.bias) == 0
    bound = math.sqrt(6 / (16 + 48))  # xavier_uniform on the 48 × 16 in_proj_weight
    assert m.in_proj_weight.abs().max() <= bound
    assert abs(m.in_proj_weight.std() - ref.in_proj_weight.std()) < 0.02


def test_dropout_on_the_weights_only_while_training():
    torch.manual_seed(6)
    m = ops.MultiHeadAttention(8, 2, dropout=0.5)
    x = torch.randn(2, 6, 8)
    m.train()
    a, _ = m(x, x, x)
    b, _ = m(x, x, x)
    assert not torch.allclose(a, b)
    m.eval()
    assert torch.equal(m(x, x, x)[0], m(x, x, x)[0])


# Causal masking: a future token does not change an earlier output ------------------------------

@pytest.mark.parametrize("how", ["MultiHeadAttention causal param", "MultiHeadAttention mask node",
                                 "ScaledDotProductAttention causal param",
                                 "ScaledDotProductAttention mask node"])
def test_changing_a_future_token_leaves_earlier_outputs_alone(how):
    torch.manual_seed(7)
    kind, _, rest = how.partition(" ")
    g = Graph()
    g.add_node("Input", "x", {"shape": ["T", 8]})
    g.add_node(kind, "att", {"causal": rest == "causal param"})
    for port in ("query", "key", "value"):
        g.connect("x", "out", "att", port)
    if rest == "mask node":
        g.add_node("CausalMask", "causal")
        g.connect("x", "out", "causal", "x")
        g.connect("causal", "mask", "att", "attn_mask")
    outputs(g, "att", ("out", "weights"))
    c = compile_graph(g)
    x = torch.randn(2, 7, 8)
    before = run(c, x)
    for t0 in (6, 3, 0):
        y = x.clone()
        y[:, t0] = torch.randn(2, 8) * 5
        after = run(c, y)
        assert torch.allclose(after["out_out"][:, :t0], before["out_out"][:, :t0], atol=1e-6)
        assert not torch.allclose(after["out_out"][:, t0], before["out_out"][:, t0])
    w = before["out_weights"]
    assert torch.all(w[..., torch.ones(7, 7, dtype=torch.bool).triu(1)] == 0)


def test_the_causal_mask_node():
    g = Graph()
    g.add_node("Input", "ids", {"shape": ["T"], "dtype": "int64"})
    g.add_node("CausalMask", "causal")
    g.connect("ids", "out", "causal", "x")
    outputs(g, "causal", ("mask",))
    a = analyse(g)
    t = a.out_type("causal", "mask")
    assert t == TensorType(("T", "T"), "bool") and str(t) == "T × T (bool)"
    m = run(compile_graph(g), torch.zeros(2, 4, dtype=torch.long))["out_mask"]
    assert m.dtype == torch.bool
    assert m.tolist() == [[False, True, True, True], [False, False, True, True],
                          [False, False, False, True], [False, False, False, False]]


def test_the_padding_mask_node():
    g = Graph()
    g.add_node("Input", "ids", {"shape": [4], "dtype": "int64"})
    g.add_node("PaddingMask", "pad", {"pad_id": 2})
    g.connect("ids", "out", "pad", "x")
    outputs(g, "pad", ("mask",))
    assert str(analyse(g).out_type("pad", "mask")) == "N × 4 (bool)"
    m = run(compile_graph(g), torch.tensor([[5, 7, 2, 2], [1, 2, 3, 2]]))["out_mask"]
    assert m.tolist() == [[False, False, True, True], [False, True, False, True]]


# Positional encoding and LayerNorm -------------------------------------------------------------

def single(type_id, shape, dtype="float32", **params):
    g = Graph()
    g.add_node("Input", "x", {"shape": shape, "dtype": dtype})
    g.add_node(type_id, "n", params)
    g.connect("x", "out", "n", "x")
    outputs(g, "n", [p.name for p in catalogue.get(type_id).outputs])
    return g


def test_sinusoidal_encoding_at_known_positions():
    c = compile_graph(single("PositionalEncoding", ["T", 6], max_len=50))
    x = torch.zeros(1, 50, 6)
    pe = run(c, x)["out_y"][0]
    assert torch.allclose(pe[0], torch.tensor([0.0, 1, 0, 1, 0, 1]))  # sin 0, cos 0
    for pos in (1, 7, 49):
        for i in range(3):
            angle = pos / 10000 ** (2 * i / 6)
            assert pe[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert pe[1, 0].item() == pytest.approx(math.sin(1.0), abs=1e-7)
    x = torch.randn(3, 9, 6)  # any T ≤ max_len, added to each sample
    assert torch.allclose(run(c, x)["out_y"], x + pe[:9], atol=1e-6)
    assert dict(c.model.state_dict()) == {}  # a buffer made from the sizes, not saved


def test_an_odd_number_of_features_and_a_learned_table():
    pe = ops.PositionalEncoding(5, 8).pe
    assert pe[3, 4].item() == pytest.approx(math.sin(3 / 10000 ** (4 / 5)), abs=1e-6)
    assert pe[3, 3].item() == pytest.approx(math.cos(3 / 10000 ** (2 / 5)), abs=1e-6)
    c = compile_graph(single("PositionalEncoding", ["T", 4], kind="learned", max_len=10))
    table = c.modules.n.pe
    assert isinstance(table, torch.nn.Parameter) and table.shape == (10, 4)
    assert list(c.model.state_dict()) == ["n.pe"]
    x = torch.randn(2, 6, 4)
    assert torch.allclose(run(c, x)["out_y"], x + table[:6].detach())
    with pytest.raises(ValueError, match="holds 10 positions .max_len. but the sequence has 11"):
        c.model(torch.randn(2, 11, 4))


def test_layer_norm_equals_torch():
    torch.manual_seed(8)
    c = compile_graph(single("LayerNorm", ["T", 6], eps=1e-3))
    ln = c.modules.n
    with torch.no_grad():
        ln.weight.uniform_(0.5, 2), ln.bias.uniform_(-1, 1)
    ref = torch.nn.LayerNorm(6, eps=1e-3)
    ref.load_state_dict(ln.state_dict())
    x = torch.randn(3, 5, 6) * 3 + 1
    assert torch.allclose(run(c, x)["out_y"], ref(x), atol=1e-6)
    mu, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
    assert torch.allclose(run(c, x)["out_y"], ln.weight * (x - mu) / torch.sqrt(var + 1e-3)
                          + ln.bias, atol=1e-5)
    c2 = compile_graph(single("LayerNorm", [6], elementwise_affine=False))
    assert list(c2.model.state_dict()) == []
    x2 = torch.randn(4, 6)
    assert torch.allclose(run(c2, x2)["out_y"], F.layer_norm(x2, (6,)), atol=1e-6)


# Shape-rule errors: on the port at fault, naming the upstream node ------------------------------

def errors(g):
    return [(e.node, e.port, e.message) for e in analyse(g).errors]


def test_dot_score_needs_equal_sizes():
    [(node, port, msg)] = errors(attention_graph("dot", 4, 6))
    assert (node, port) == ("attn", "key")
    assert msg == ("Attention (dot / general / additive) 'attn' scores by the dot product "
                   "s_tᵀ h_j, which needs as many features on 'query' as on 'key', but 's' "
                   "gives 4 and 'h' gives 6: choose score 'general' or 'additive', or put a "
                   "Linear before one of them")
    assert not errors(attention_graph("general", 4, 6))


def test_masks_must_be_bool_and_fit_the_keys():
    g = attention_graph("dot")
    g.add_node("Input", "m", {"shape": ["S"]})  # float, not a mask
    g.connect("m", "out", "attn", "key_padding_mask")
    [(node, port, msg)] = errors(g)
    assert (node, port) == ("attn", "key_padding_mask")
    assert "takes a bool mask on 'key_padding_mask' (N × T_k, True = padding) but 'm' gives " \
           "N × S: make it from the token ids with a Padding mask node" in msg
    g = attention_graph("dot", mask=True)
    g.set_param("ids", "shape", [4])
    [(node, port, msg)] = errors(g)
    assert (node, port) == ("attn", "key_padding_mask")
    assert msg.endswith("takes a key padding mask N × S (one flag per step of 'h') but 'pad' "
                        "gives N × 4 (bool)")
    g = sdpa_graph(causal_node=True)  # the causal mask is T × T, the keys have S steps
    [(node, port, msg)] = errors(g)
    assert (node, port) == ("sdpa", "attn_mask")
    assert "takes an attention mask T × S (or N × T × S: one row per query of 'q', one " \
           "column per key of 'k') but 'causal' gives T × T (bool)" in msg
    g = sdpa_graph()
    g.add_node("Input", "am", {"shape": ["S"]})
    g.connect("am", "out", "sdpa", "attn_mask")
    assert "make one with a Causal mask node" in errors(g)[0][2]


def test_masks_and_token_ids_are_not_real_numbers():
    g = attention_graph("dot", mask=True)
    g.connect("pad", "mask", "attn", "value")
    [(node, port, msg)] = errors(g)
    assert (node, port) == ("attn", "value")
    assert "needs real numbers on 'value' but 'pad' gives a mask (N × S (bool))" in msg
    g = Graph()
    g.add_node("Input", "ids", {"shape": ["T"], "dtype": "int64"})
    g.add_node("LayerNorm", "ln")
    g.connect("ids", "out", "ln", "x")
    [(node, port, msg)] = errors(g)
    assert (node, port) == ("ln", "x")
    assert msg == ("LayerNorm 'ln' needs real numbers (float32) on 'x' but 'ids' gives N × T "
                   "(int64): token ids go through an Embedding first")


def test_multi_head_errors():
    [(node, port, msg)] = errors(mha_graph(10, num_heads=4))
    assert (node, port) == ("mha", "query")
    assert msg == ("Multi-head attention 'mha' splits the 10 features of 'q' (embed_dim) into "
                   "4 heads, but 10 is not a multiple of 4: choose num_heads among 1, 2, 5, 10")
    [(node, port, msg)] = errors(mha_graph(8, num_heads=2, embed_dim=16))
    assert (node, port) == ("mha", "query") and "expects 16 features (embed_dim)" in msg
    g = mha_graph(8, num_heads=2)
    g.set_param("v", "shape", ["T", 8])
    [(node, port, msg)] = errors(g)
    assert (node, port) == ("mha", "value")
    assert "needs a value for each of the S keys from 'k' but 'v' gives N × T × 8" in msg


def test_sdpa_errors():
    g = sdpa_graph()
    g.set_param("k", "shape", ["S", 4])
    [(node, port, msg)] = errors(g)
    assert (node, port) == ("sdpa", "key") and "they need the same d_k" in msg
    g = sdpa_graph()
    g.set_param("q", "shape", [8])
    [(node, port, msg)] = errors(g)
    assert (node, port) == ("sdpa", "query")
    assert "needs queries Q: N × T_q × d_k (or N × H × T_q × d_k, a heads axis) on 'query' " \
           "but 'q' gives N × 8" in msg


def test_positional_encoding_and_mask_node_errors():
    [(node, port, msg)] = errors(single("PositionalEncoding", [20, 4], max_len=16))
    assert (node, port) == ("n", "x")
    assert msg.endswith("holds 16 positions (max_len) but the sequence from 'x' has 20 steps: "
                        "raise max_len")
    g = single("PaddingMask", ["T"])
    [(node, port, msg)] = errors(g)
    assert (node, port) == ("n", "x")
    assert msg == "Padding mask 'n' takes token ids N × T (int64) but 'x' gives N × T"
    g = single("CausalMask", [1, 4, 4])
    assert "needs a sequence N × T (token ids) or N × T × D" in errors(g)[0][2]


def random_type(rnd):
    rank = rnd.randint(0, 5)
    dims = [rnd.choice([1, 2, 3, 4, 6, 8, "T", "S", "T[1:]", "?"]) for _ in range(rank)]
    return TensorType(tuple(["N", *dims][:rank]) if rank else (), rnd.choice(
        ["float32", "float32", "int64", "bool"]))


@pytest.mark.parametrize("type_id", NEW)
def test_shape_rules_only_ever_raise_shape_errors(type_id):
    """Whatever arrives on the ports (any rank, dtype, size names), a rule gives types for
    every output or a ShapeError, never another exception (analysis would crash)."""
    from tests.params import sample_value
    spec = catalogue.get(type_id)
    rnd = random.Random(type_id)
    for _ in range(400):
        params = spec.resolved({p.name: sample_value(p, rnd) for p in spec.params})
        ins = {p.name: random_type(rnd) for p in spec.inputs
               if not p.optional or rnd.random() < 0.5}
        try:
            outs = spec.shape(ShapeContext("n", params, ins, {k: "src" for k in ins}))
        except ShapeError:
            continue
        assert set(outs) == {p.name for p in spec.outputs}
        assert all(isinstance(t, TensorType) for t in outs.values())


# Inferred shapes equal real ones (for these nodes, until the catalogue oracle samples them) -----

def bool_mask(shape, rnd):
    m = torch.rand(shape) < 0.3
    m[..., 0] = False  # every query keeps a key
    return m


CASES = [  # (type, params, {port: (shape, dtype)})
    ("Attention", {"score": "dot"}, {"query": (("N", 3, 4), "float32"),
                                     "key": (("N", 5, 4), "float32")}),
    ("Attention", {"score": "general"}, {"query": (("N", 3), "float32"),
                                         "key": (("N", 5, 4), "float32"),
                                         "key_padding_mask": (("N", 5), "bool")}),
    ("Attention", {"score": "additive", "attention_dim": 7},
     {"query": (("N", 2, 3), "float32"), "key": (("N", 5, 4), "float32"),
      "value": (("N", 5, 6), "float32"), "key_padding_mask": (("N", 5), "bool")}),
    ("ScaledDotProductAttention", {"causal": True},
     {"query": (("N", 3, 4), "float32"), "key": (("N", 5, 4), "float32"),
      "value": (("N", 5, 2), "float32"), "key_padding_mask": (("N", 5), "bool"),
      "attn_mask": ((3, 5), "bool")}),
    ("ScaledDotProductAttention", {},
     {"query": (("N", 2, 3, 4), "float32"), "key": (("N", 2, 5, 4), "float32"),
      "value": (("N", 2, 5, 6), "float32"), "attn_mask": (("N", 3, 5), "bool")}),
    ("MultiHeadAttention", {"num_heads": 2, "causal": True},
     {"query": (("N", 3, 4), "float32"), "key": (("N", 5, 3), "float32"),
      "value": (("N", 5, 7), "float32"), "key_padding_mask": (("N", 5), "bool"),
      "attn_mask": (("N", 3, 5), "bool")}),
    ("PositionalEncoding", {"kind": "learned", "max_len": 6}, {"x": (("N", 6, 5), "float32")}),
    ("LayerNorm", {}, {"x": (("N", 2, 3, 5), "float32")}),
    ("CausalMask", {}, {"x": (("N", 4, 2), "float32")}),
    ("PaddingMask", {"pad_id": 1}, {"x": (("N", 4), "int64")}),
]


@pytest.mark.parametrize("type_id, params, ports", CASES)
def test_inferred_types_equal_the_real_ones(type_id, params, ports):
    spec = catalogue.get(type_id)
    params = spec.resolved(params)
    rnd = random.Random(0)
    types = {p: TensorType(s, d) for p, (s, d) in ports.items()}
    n = 3
    tensors = {}
    for p, t in types.items():
        shape = [n if d == "N" else d for d in t.shape]
        tensors[p] = (bool_mask(shape, rnd) if t.dtype == "bool" else
                      torch.randint(0, 3, shape) if t.dtype == "int64" else torch.randn(shape))
    outs = spec.shape(ShapeContext("n", params, types, {k: "src" for k in types}))
    plan = spec.build(BuildContext("n", params, types, outs))
    args = [tensors[p.name] for p in spec.inputs if not p.optional and p.name in tensors]
    kwargs = {p.name: tensors[p.name] for p in spec.inputs if p.optional and p.name in tensors}
    fn = resolve(plan.target)(**plan.kwargs) if isinstance(plan, Make) else \
        (lambda *a, **k: resolve(plan.target)(*a, **k, **plan.kwargs))
    result = fn(*args, **kwargs)
    for i, port in enumerate(spec.outputs):
        real = result[port.path[0]] if len(spec.outputs) > 1 else result
        want = outs[port.name]
        assert tuple(real.shape) == tuple(n if d == "N" else d for d in want.shape), port.name
        assert str(real.dtype) == f"torch.{want.dtype}", port.name


# Compiled graphs: every node, its generated code, the standalone helpers, gradients -----------

def transformer_block():
    """Token ids -> Embedding -> PositionalEncoding -> causal self-attention (MHA) with a
    padding mask -> Add -> LayerNorm -> cross Attention (general) and SDPA over the same
    memory -> Outputs; every new node once."""
    g = Graph()
    g.add_node("Input", "ids", {"shape": ["T"], "dtype": "int64"})
    g.add_node("Embedding", "embed", {"num_embeddings": 12, "embedding_dim": 8})
    g.add_node("PositionalEncoding", "posenc", {"max_len": 32})
    g.add_node("PaddingMask", "pad")
    g.add_node("CausalMask", "causal")
    g.add_node("MultiHeadAttention", "mha", {"num_heads": 2})
    g.add_node("Add", "residual")
    g.add_node("LayerNorm", "ln")
    g.add_node("Input", "memory", {"shape": ["S", 6]})
    g.add_node("Attention", "attn", {"score": "additive", "attention_dim": 5})
    g.add_node("Linear", "proj", {"out_features": 6})
    g.add_node("ScaledDotProductAttention", "sdpa")
    wires = [("ids", "out", "embed", "x"), ("embed", "y", "posenc", "x"),
             ("ids", "out", "pad", "x"), ("ids", "out", "causal", "x"),
             ("posenc", "y", "mha", "query"), ("posenc", "y", "mha", "key"),
             ("posenc", "y", "mha", "value"), ("pad", "mask", "mha", "key_padding_mask"),
             ("causal", "mask", "mha", "attn_mask"), ("mha", "out", "residual", "x"),
             ("posenc", "y", "residual", "x"), ("residual", "y", "ln", "x"),
             ("ln", "y", "attn", "query"), ("memory", "out", "attn", "key"),
             ("ln", "y", "proj", "x"), ("proj", "y", "sdpa", "query"),
             ("memory", "out", "sdpa", "key"), ("memory", "out", "sdpa", "value")]
    for w in wires:
        g.connect(*w)
    for node, port in (("attn", "context"), ("attn", "weights"), ("mha", "weights"),
                       ("sdpa", "out")):
        g.add_node("Output", f"{node}_{port}_out")
        g.connect(node, port, f"{node}_{port}_out", "x")
    return g


def test_every_node_compiles_in_one_graph_and_its_code_runs():
    g = transformer_block()
    a = analyse(g)
    assert a.ok, a.errors
    assert str(a.out_type("pad", "mask")) == "N × T (bool)"
    assert str(a.out_type("causal", "mask")) == "T × T (bool)"
    assert str(a.out_type("mha", "weights")) == "N × 2 × T × T"
    assert str(a.out_type("attn", "context")) == "N × T × 6"
    assert str(a.out_type("sdpa", "out")) == "N × T × 6"
    torch.manual_seed(9)
    c = compile_graph(g)
    assert set(NEW) <= {g.node_type(n) for n in g.nodes()}
    code = c.model.code
    assert "self.mha(posenc, posenc, posenc, key_padding_mask = pad, attn_mask = causal)" in code
    ids = padding((2, 7), [7, 4])
    memory = torch.randn(2, 5, 6)
    got = run(c, ids, memory)
    assert got["attn_context_out"].shape == (2, 7, 6)
    assert got["attn_weights_out"].shape == (2, 7, 5)
    assert got["mha_weights_out"].shape == (2, 2, 7, 7)
    assert got["sdpa_out_out"].shape == (2, 7, 6)
    assert torch.all(got["mha_weights_out"][1, :, :, 4:] == 0)  # padded keys
    for t in got.values():
        assert torch.isfinite(t).all()
    c.model.train()  # gradients reach every weight
    loss = sum(t.sum() for t in c.model(ids, memory))
    loss.backward()
    for name, p in c.model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_the_generated_source_brings_its_helpers_and_runs():
    c = compile_graph(transformer_block())
    names = used_ops(c)
    for helper in ("masked_softmax", "attention_mask", "scaled_dot_product_attention"):
        assert helper in names
    assert names.index("masked_softmax") < names.index("scaled_dot_product_attention") \
        < names.index("MultiHeadAttention")
    src = "\n\n".join(inspect.getsource(getattr(ops, n)) for n in names)
    src += "\n\n" + module_source(c, "Block")
    ast.parse(src)
    ns = {"torch": torch, "nn": torch.nn, "F": F, "math": math, "functools": functools,
          "operator": operator}  # what the standalone file imports
    exec(compile(src, "block.py", "exec"), ns)
    m = ns["Block"]()
    m.load_state_dict(c.model.state_dict())
    m.eval(), c.model.eval()
    ids, memory = padding((2, 6), [6, 3]), torch.randn(2, 4, 6)
    with torch.no_grad():
        for a, b in zip(m(ids, memory), c.model(ids, memory)):
            assert torch.equal(a, b)


def test_any_length_the_data_sets():
    c = compile_graph(transformer_block())
    for t, s in ((1, 1), (9, 3)):
        got = run(c, padding((2, t), [t, 1]), torch.randn(2, s, 6))
        assert got["mha_weights_out"].shape == (2, 2, t, t)
        assert got["attn_weights_out"].shape == (2, t, s)
