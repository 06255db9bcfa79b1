"""What Hugging Face BERT and GPT-2 need of the importer (issue 26, item 3), each on a small
model of its own: Embedding's padding_idx, torch's scaled-dot-product attention (fx and
torch.export, a mask or is_causal), and torch.where with a constant."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from graph import catalogue
from runtime.importer import import_model, parse_input


class PaddedEmbedding(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(30, 8, padding_idx=0)

    def forward(self, ids):
        return self.emb(ids)


class Attend(nn.Module):
    """Q, K, V from Linears, split into 2 heads, torch's attention; `mask` a bool mask from
    a comparison of the input's own values (what reads it must be computed), `causal`."""

    def __init__(self, causal=False, mask=False, scale=None, control=False):
        super().__init__()
        self.q, self.k, self.v = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 8)
        self.causal, self.mask, self.scale, self.control = causal, mask, scale, control

    def forward(self, x):
        if self.control and x.dim() != 3:  # fx cannot trace this: torch.export does
            x = x.unsqueeze(0)
        q, k, v = (m(x).view(x.size(0), -1, 2, 4).transpose(1, 2)
                   for m in (self.q, self.k, self.v))
        m = (k.sum(-1, keepdim=True) > -1e9).transpose(-1, -2) if self.mask else None
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=self.causal,
                                             scale=self.scale)
        return out.transpose(1, 2).reshape(x.size(0), -1, 8)


class MaskedScores(nn.Module):
    def forward(self, x):
        if x.dim() != 3:
            x = x.unsqueeze(0)
        return torch.where(x > 0, x, -1e9).softmax(-1)


def _imported(model, spec):
    torch.manual_seed(0)
    return import_model(model.eval(), [parse_input(spec)], "m")


def test_embedding_padding_idx_is_a_param_and_the_module_gets_it():
    r = _imported(PaddedEmbedding(), "ids=2,5:int64:30")
    assert r.max_abs_diff == 0.0
    emb = [m for m in r.compiled.model.modules() if isinstance(m, nn.Embedding)]
    assert [e.padding_idx for e in emb] == [0]


def test_embedding_padding_idx_out_of_range_is_refused_in_words():
    from graph.spec import ShapeContext, ShapeError, TensorType
    spec = catalogue.get("Embedding")
    p = spec.resolved({"num_embeddings": 5, "embedding_dim": 3, "padding_idx": 5})
    with pytest.raises(ShapeError, match="padding_idx 5"):
        spec.shape(ShapeContext("e", p, {"x": TensorType(("N", 4), "int64")}, {"x": "ids"}))


@pytest.mark.parametrize("kw", [{}, {"causal": True}, {"scale": 0.3}])
def test_scaled_dot_product_attention_imports_through_fx(kw):
    r = _imported(Attend(**kw), "x=2,5,8")
    assert r.tracer == "fx" and r.max_abs_diff < 1e-5
    assert r.nodes_by_type["TorchScaledDotProductAttention"] == 1


@pytest.mark.parametrize("kw", [{"control": True}, {"control": True, "causal": True},
                                {"control": True, "mask": True}])
def test_scaled_dot_product_attention_imports_through_torch_export(kw):
    r = _imported(Attend(**kw), "x=2,5,8")
    assert r.tracer == "torch.export" and r.max_abs_diff < 1e-5
    assert r.nodes_by_type["TorchScaledDotProductAttention"] == 1


def test_where_with_a_constant_imports_through_torch_export():
    r = _imported(MaskedScores(), "x=2,5,8")
    assert r.tracer == "torch.export" and r.max_abs_diff < 1e-6
    assert r.nodes_by_type["WhereScalar"] == 1


def test_torch_attention_node_computes_what_torch_computes():
    from runtime.compile import resolve
    spec = catalogue.get("TorchScaledDotProductAttention")
    from graph.spec import BuildContext
    q, k, v = torch.randn(2, 2, 3, 4), torch.randn(2, 2, 5, 4), torch.randn(2, 2, 5, 6)
    mask = torch.rand(3, 5) < 0.7
    mask[:, 0] = True
    p = spec.resolved({"scale": 0.5})
    plan = spec.build(BuildContext("a", p, {}, {}))
    got = resolve(plan.target)(q, k, v, attn_mask=mask, **plan.kwargs)
    w = (q @ k.transpose(-1, -2) * 0.5).masked_fill(~mask, float("-inf")).softmax(-1)
    assert torch.allclose(got, w @ v, atol=1e-5)


class Positions(nn.Module):
    """Position ids sliced from an int64 buffer (BERT's), looked up and added."""

    def __init__(self):
        super().__init__()
        self.tok, self.pos = nn.Embedding(30, 8), nn.Embedding(16, 8)
        self.register_buffer("position_ids", torch.arange(16).unsqueeze(0))

    def forward(self, ids):
        if ids.dim() != 2:
            ids = ids.unsqueeze(0)
        return self.tok(ids) + self.pos(self.position_ids[:, :ids.size(1)])


def test_an_integer_constant_from_a_buffer_is_a_fixed_int64_parameter(tmp_path):
    r = _imported(Positions(), "ids=2,5:int64:30")
    assert r.tracer == "torch.export" and r.max_abs_diff < 1e-6
    g = r.project.graph
    held = [g.params(n) for n in g.nodes() if g.node_type(n) == "Parameter"]
    assert [(p["dtype"], p["learn"], p["shape"]) for p in held] == [("int64", False, [1, 5])]
    path, weights = r.save(tmp_path / "m.json")
    assert Path(weights).exists()


def test_an_int64_parameter_refuses_learning_and_random_init():
    from graph.spec import ShapeContext, ShapeError
    spec = catalogue.get("Parameter")
    for bad, words in (({"learn": True}, "cannot be learned"),
                       ({"learn": False, "init": "normal"}, "zeros or ones")):
        p = spec.resolved({"shape": [1, 3], "dtype": "int64", **bad})
        with pytest.raises(ShapeError, match=words):
            spec.shape(ShapeContext("p", p, {}, {}))


class FlatLinear(nn.Module):
    """Hugging Face's Conv1D: weight D × E, y = addmm(b, x.view(-1, D), W) viewed back."""

    def __init__(self):
        super().__init__()
        self.weight, self.bias = nn.Parameter(torch.randn(8, 6)), nn.Parameter(torch.randn(6))

    def forward(self, x):
        if x.dim() != 3:
            x = x.unsqueeze(0)
        y = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return y.view(x.size()[:-1] + (6,))


def test_hf_conv1d_imports_as_a_linear_over_the_last_axis():
    r = _imported(FlatLinear(), "x=2,5,8")
    assert r.tracer == "torch.export" and r.max_abs_diff < 1e-5
    assert r.nodes_by_type.get("Linear") == 1 and "Parameter" not in r.nodes_by_type
