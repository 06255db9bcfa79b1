"""torch.nn's losses in the catalogue (graph/catalogue/losses.py, TORCH and MULTI_INPUT): each
node, compiled into an objective, gives torch's own nn.<type id> with the node's params as its
keyword arguments; hand values from the formulas in their help; misfits refused naming the
port; a graph trained end to end through the Trainer with two of them.

MULTI_INPUT: GaussianNLLLoss, CosineEmbeddingLoss, MarginRankingLoss, TripletMarginLoss
(three inputs, the first the prediction)."""
import math

import pytest
import torch

import tests.runtime.test_catalogue_oracle as oracle
from graph import catalogue
from graph.analysis import analyse
from graph.catalogue.losses import MULTI_INPUT, TORCH
from graph.model import Graph
from graph.project import Project
from graph.settings import DataSettings, TrainingSettings
from runtime.compile import compile_graph
from runtime.train import Trainer

B = 6  # samples per batch in these tests


def _signs(*shape):
    return torch.randint(0, 2, shape).float() * 2 - 1


def _labels_then_minus_one(n, c):
    """Rows of MultiLabelMarginLoss's targets: a few class indices, then −1."""
    t = torch.full((n, c), -1, dtype=torch.long)
    for i in range(n):
        k = int(torch.randint(1, c, ()))
        t[i, :k] = torch.randperm(c)[:k]
    return t


# type id -> (prediction features, params, the data of each other port: (sample shape, dtype,
# one batch of values)). The prediction is Linear(x) with 4 inputs; the others are Inputs or
# Targets.
CASES = {
    "L1Loss": ((3,), {}, {"target": ((3,), "float32", torch.randn(B, 3))}),
    "NLLLoss": ((5,), {"ignore_index": 1}, {"target": ((), "int64", torch.randint(0, 5, (B,)))}),
    "BCEWithLogitsLoss": ((3,), {}, {"target": ((3,), "float32", torch.rand(B, 3))}),
    "CrossEntropyLoss": ((5,), {"label_smoothing": 0.1, "ignore_index": 2},
                         {"target": ((), "int64", torch.randint(0, 5, (B,)))}),
    "KLDivLoss": ((5,), {}, {"target": ((5,), "float32", torch.softmax(torch.randn(B, 5), 1))}),
    "PoissonNLLLoss": ((3,), {"full": True}, {"target": ((3,), "float32",
                                                        torch.poisson(torch.full((B, 3), 3.0)))}),
    "SoftMarginLoss": ((3,), {}, {"target": ((3,), "float32", _signs(B, 3))}),
    "MultiLabelSoftMarginLoss": ((4,), {}, {"target": ((4,), "float32",
                                                      torch.randint(0, 2, (B, 4)).float())}),
    "MultiMarginLoss": ((5,), {"p": 2, "margin": 0.5},
                        {"target": ((), "int64", torch.randint(0, 5, (B,)))}),
    "MultiLabelMarginLoss": ((5,), {}, {"target": ((5,), "int64", _labels_then_minus_one(B, 5))}),
    "HingeEmbeddingLoss": ((3,), {"margin": 0.5}, {"target": ((3,), "float32", _signs(B, 3))}),
    "GaussianNLLLoss": ((3,), {"full": True}, {"target": ((3,), "float32", torch.randn(B, 3)),
                                              "var": ((1,), "float32", torch.rand(B, 1) + 0.1)}),
    "CosineEmbeddingLoss": ((4,), {"margin": 0.2}, {"x2": ((4,), "float32", torch.randn(B, 4)),
                                                    "target": ((), "float32", _signs(B))}),
    "MarginRankingLoss": ((1,), {"margin": 0.1}, {"x2": ((1,), "float32", torch.randn(B, 1)),
                                                  "target": ((1,), "float32", _signs(B, 1))}),
    "TripletMarginLoss": ((4,), {"margin": 0.5, "p": 1.0, "swap": True},
                          {"positive": ((4,), "float32", torch.randn(B, 4)),
                           "negative": ((4,), "float32", torch.randn(B, 4))}),
}


@pytest.fixture
def multi_input(monkeypatch):
    """The multi-input losses registered, for one test."""
    for s in MULTI_INPUT:
        monkeypatch.setitem(catalogue.SPECS, s.type, s)


def test_every_torch_loss_has_a_case_and_none_is_registered_twice():
    assert set(CASES) == {s.type for s in (*TORCH, *MULTI_INPUT)}
    assert all(catalogue.SPECS.get(s.type) is s for s in (*TORCH, *MULTI_INPUT))
    for s in (*TORCH, *MULTI_INPUT):  # type id = the torch class; params = its keywords
        own = {p.name for p in s.params} - {"weight", "metric"}
        assert own <= set(getattr(torch.nn, s.type).__init__.__code__.co_varnames), s.type


def _loss_graph(type_, features, params, others):
    g = Graph()
    g.add_node("Input", "x", {"shape": [4]})
    g.add_node("Linear", "fc", {"out_features": features[0]} if features else {})
    g.connect("x", "out", "fc", "x")
    g.add_node(type_, "loss", params)
    spec = catalogue.get(type_)
    g.connect("fc", "y", "loss", spec.in_role("pred"))
    for port, (shape, dtype, _) in others.items():
        kind = "Target" if port == "target" else "Input"
        g.add_node(kind, port, {"shape": list(shape), "dtype": dtype} if kind == "Target"
                   else {"shape": list(shape)})
        g.connect(port, "out", "loss", port)
    return g


@pytest.mark.parametrize("type_", sorted(CASES))
def test_the_compiled_loss_is_torchs_module_with_the_same_params(type_, multi_input):
    """Input → Linear → the loss, compiled: the objective's loss equals torch.nn.<type id>
    built with the node's params, on the same Linear's output."""
    torch.manual_seed(0)
    features, params, others = CASES[type_]
    c = compile_graph(_loss_graph(type_, features, params, others))
    x = torch.randn(B, 4)
    feed = {"x": x, **{p: v for p, (_, _, v) in others.items()}}
    got = c.objective(*(feed[n] for n in c.feeds))["losses"]["loss"]
    spec = catalogue.get(type_)
    kwargs = {k: v for k, v in spec.resolved(params).items() if k not in ("weight", "metric")}
    module = getattr(torch.nn, type_)(**kwargs)
    pred = c.module("fc")(x)
    want = module(pred, *(others[p.name][2] for p in spec.inputs[1:]))
    assert got.shape == () and torch.isfinite(got)
    assert torch.allclose(got, want, atol=1e-6), (got, want)
    got.backward()  # the trainer can minimise it: gradients reach the Linear
    assert c.module("fc").weight.grad.abs().sum() > 0


def _value(type_, pred, target, params=None, **more):
    """The loss node's value on one batch, through compile: pred and the other ports are
    Inputs (Targets for 'target') of the values' sample shapes."""
    g = Graph()
    g.add_node(type_, "loss", params or {})
    feed = {"p": pred, **more, **({"t": target} if target is not None else {})}
    for name, v in feed.items():
        port = {"p": catalogue.get(type_).in_role("pred"), "t": "target"}.get(name, name)
        dtype = "int64" if not v.is_floating_point() else "float32"
        g.add_node("Target" if name == "t" else "Input", name,
                   {"shape": list(v.shape[1:]), "dtype": dtype})
        g.connect(name, "out", "loss", port)
    c = compile_graph(g)
    return c.objective(*(feed[n] for n in c.feeds))["losses"]["loss"].item()


def test_hand_values_of_the_formulas_in_the_help():
    """The worked examples of the help: CE of logits [2, 1, 0] with class 0 = ln(1 + e⁻¹ +
    e⁻²) = 0.408; the multi-class hinge of [3, 1, 2.5] with class 0 = (0 + 0.5) / 3; torch's
    multi-label margin example 0.85; KL([0.5, 0.5] ‖ [0.9, 0.1]) = 0.511; L1 of [2, 0] against
    [1, 3] = 2; Poisson with λ = 2 and y = 3 = 2 − 3 ln 2; soft margin at ŷ = 0 = ln 2."""
    row = torch.tensor([[2.0, 1.0, 0.0]])
    assert _value("CrossEntropyLoss", row, torch.tensor([0])) == pytest.approx(
        math.log(1 + math.exp(-1) + math.exp(-2)), abs=1e-6)
    assert _value("CrossEntropyLoss", row, torch.tensor([0])) == pytest.approx(0.4076, abs=1e-4)
    # label smoothing ε = 0.3 over C = 3: q = [0.8, 0.1, 0.1]
    logp = torch.log_softmax(row, 1)[0]
    want = -(0.8 * logp[0] + 0.1 * logp[1] + 0.1 * logp[2]).item()
    assert _value("CrossEntropyLoss", row, torch.tensor([0]), {"label_smoothing": 0.3}) == \
        pytest.approx(want, abs=1e-6)
    assert _value("MultiMarginLoss", torch.tensor([[3.0, 1.0, 2.5]]), torch.tensor([0])) == \
        pytest.approx(0.5 / 3, abs=1e-6)
    assert _value("MultiLabelMarginLoss", torch.tensor([[0.1, 0.2, 0.4, 0.8]]),
                  torch.tensor([[3, 0, -1, 1]])) == pytest.approx(0.85, abs=1e-6)
    kl = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    assert _value("KLDivLoss", torch.tensor([[0.9, 0.1]]).log(), torch.tensor([[0.5, 0.5]])) == \
        pytest.approx(kl, abs=1e-6) == pytest.approx(0.511, abs=1e-3)
    # batchmean: two samples, the same KL each, give the same value; 'mean' halves it (C = 2)
    two = torch.tensor([[0.9, 0.1], [0.9, 0.1]]).log(), torch.tensor([[0.5, 0.5], [0.5, 0.5]])
    assert _value("KLDivLoss", *two) == pytest.approx(kl, abs=1e-6)
    assert _value("KLDivLoss", *two, {"reduction": "mean"}) == pytest.approx(kl / 2, abs=1e-6)
    assert _value("L1Loss", torch.tensor([[2.0, 0.0]]), torch.tensor([[1.0, 3.0]])) == 2.0
    assert _value("PoissonNLLLoss", torch.tensor([[math.log(2)]]), torch.tensor([[3.0]])) == \
        pytest.approx(2 - 3 * math.log(2), abs=1e-6)
    assert _value("SoftMarginLoss", torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 1.0]])) == \
        pytest.approx((math.log(2) + math.log(1 + math.exp(-2))) / 2, abs=1e-6)
    assert _value("HingeEmbeddingLoss", torch.tensor([[0.3]]), torch.tensor([[-1.0]])) == \
        pytest.approx(0.7, abs=1e-6)


def test_hand_values_of_the_multi_input_losses(multi_input):
    assert _value("GaussianNLLLoss", torch.tensor([[0.0]]), torch.tensor([[1.0]]),
                  var=torch.tensor([[1.0]])) == pytest.approx(0.5, abs=1e-6)
    assert _value("CosineEmbeddingLoss", torch.tensor([[1.0, 0.0]]), torch.tensor([1.0]),
                  x2=torch.tensor([[0.0, 1.0]])) == pytest.approx(1.0, abs=1e-6)
    assert _value("MarginRankingLoss", torch.tensor([[0.2]]), torch.tensor([[1.0]]),
                  {"margin": 0.1}, x2=torch.tensor([[0.5]])) == pytest.approx(0.4, abs=1e-6)
    # d(a, p) = 1, d(a, n) = 1.5 (eps 0 for exact distances), margin 1
    assert _value("TripletMarginLoss", torch.tensor([[0.0, 0.0]]), None, {"eps": 0.0},
                  positive=torch.tensor([[1.0, 0.0]]),
                  negative=torch.tensor([[0.0, 1.5]])) == pytest.approx(0.5, abs=1e-6)


def test_cross_entropy_is_categorical_cross_entropy_on_logits():
    """What CrossEntropyLoss's help says: CategoricalCrossEntropyLoss with from_logits on and
    the classes on dim 1 gives the same value, for indices and for probabilities."""
    torch.manual_seed(1)
    logits = torch.randn(7, 4)
    for target in (torch.randint(0, 4, (7,)), torch.softmax(torch.randn(7, 4), 1)):
        ce = _value("CrossEntropyLoss", logits, target)
        cce = _value("CategoricalCrossEntropyLoss", logits, target,
                     {"from_logits": True, "classes": "dim 1"})
        assert ce == pytest.approx(cce, abs=1e-6)


@pytest.mark.parametrize("type_", sorted(s.type for s in MULTI_INPUT))
def test_multi_input_losses_infer_torchs_shapes(type_, multi_input):
    """The catalogue oracle (which runs them too), through the fixture kept from when
    they were not registered."""
    oracle.test_inferred_shape_equals_real_shape(type_)


@pytest.mark.parametrize("type_, pred, target, port, words", [
    ("L1Loss", ((4,), "float32"), ((1,), "float32"), "target",
     "computes |ŷᵢ − yᵢ| element by element, so 'target' must have the shape of 'pred' "
     "N × 4 from 'p', but it gets N × 1 from 't'"),
    ("BCEWithLogitsLoss", ((3,), "float32"), ((3,), "int64"), "target",
     "needs real numbers (float32: the Target dtype) on 'target', but 't' gives N × 3 (int64)"),
    ("NLLLoss", ((5,), "float32"), ((5,), "float32"), "target",
     "needs class indices (int64) on 'target', but 't' gives N × 5"),
    ("CrossEntropyLoss", ((5, 8), "float32"), ((5,), "int64"), "target",
     "reads class scores N × 5 × 8 from 'p' (classes on dim 1), so its class indices must be "
     "N × 8 (int64), but 't' gives N × 5 (int64)"),
    ("CrossEntropyLoss", ((5,), "int64"), ((), "int64"), "pred",
     "needs real numbers (float32) on 'pred', but 'p' gives N × 5 (int64)"),
    ("MultiMarginLoss", ((5, 2), "float32"), ((), "int64"), "pred",
     "needs scores N × C (a matrix: torch refuses other ranks), but 'p' gives N × 5 × 2"),
    ("MultiLabelSoftMarginLoss", ((), "float32"), ((), "float32"), "pred",
     "needs scores N × C on 'pred', but 'p' gives N"),
])
def test_misfits_are_refused_naming_the_port(type_, pred, target, port, words):
    g = Graph()
    g.add_node(type_, "loss")
    for name, (shape, dtype), dst in (("p", pred, "pred"), ("t", target, "target")):
        g.add_node("Input" if name == "p" else "Target", name,
                   {"shape": list(shape), "dtype": dtype})
        g.connect(name, "out", "loss", dst)
    [issue] = [i for i in analyse(g).errors if i.node == "loss"]
    assert issue.port == port
    assert words in issue.message, issue.message


def test_the_gaussian_variance_is_checked_against_the_prediction(multi_input):
    g = Graph()
    g.add_node("GaussianNLLLoss", "loss")
    for name, shape in (("mean", [3]), ("var", [2])):
        g.add_node("Input", name, {"shape": shape})
        g.connect(name, "out", "loss", "pred" if name == "mean" else "var")
    g.add_node("Target", "y", {"shape": [3], "dtype": "float32"})
    g.connect("y", "out", "loss", "target")
    [issue] = [i for i in analyse(g).errors if i.node == "loss"]
    assert issue.port == "var"
    assert "needs variances of the prediction's shape N × 3, or one per row (N or N × 1), " \
           "but 'var' gives N × 2" in issue.message


def _train(loss, target_shape, target_dtype, bind_target, out_features, metric):
    g = Graph()
    g.add_node("Input", "x", {"shape": [2]})
    g.add_node("Linear", "fc", {"out_features": out_features})
    g.connect("x", "out", "fc", "x")
    g.add_node("Output", "out")
    g.connect("fc", "y", "out", "x")
    g.add_node("Target", "label", {"shape": target_shape, "dtype": target_dtype})
    g.add_node(loss, "loss")
    g.connect("fc", "y", "loss", "pred")
    g.connect("label", "out", "loss", "target")
    p = Project(graph=g, training=TrainingSettings(optimizer="adam", lr=0.05, batch_size=32,
                                                   epochs=4, device="cpu"),
                data=DataSettings(dataset="blobs", bind={"x": "x", "label": bind_target}))
    ends = [e for e in Trainer(p).run() if e.kind == "epochend"]
    assert [e.kind for e in ends] and all(metric in e.metrics for e in ends)
    return [e.metrics["loss"] for e in ends], ends[-1].metrics


def test_l1_and_cross_entropy_train_end_to_end():
    """Input → Linear → Output trained by the Trainer: L1Loss learning the identity of the
    blobs' points (the target is the input field itself) and CrossEntropyLoss their class;
    the loss falls, and each reports its metric (mean absolute error, accuracy)."""
    losses, last = _train("L1Loss", [2], "float32", "x", 2, "mae")
    assert losses[-1] < 0.5 * losses[0], losses
    assert last["mae"] == pytest.approx(losses[-1], rel=0.5)
    losses, last = _train("CrossEntropyLoss", [], "int64", "y", 2, "accuracy")
    assert losses[-1] < losses[0], losses
    assert last["val_accuracy"] > 0.9
