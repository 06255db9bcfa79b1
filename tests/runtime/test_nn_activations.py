"""torch.nn's activations and dropout variants (graph/catalogue/nn_activations.py): each
compiles to torch's own module with the node's params, their help's worked examples are
torch's numbers, and their shape rules refuse what torch refuses, naming the port."""
import math
import warnings

import pytest
import torch
from torch import nn

from graph import catalogue
from graph.analysis import analyse
from graph.catalogue import nn_activations
from graph.model import Graph
from graph.spec import ShapeContext, ShapeError, TensorType
from runtime.compile import compile_graph

TYPES = [s.type for s in nn_activations.SPECS]
DROPOUTS = [s.type for s in nn_activations.SPECS if s.category == "Normalization"]


def _graph(chain, shape, dtype="float32"):
    """Input (one sample's `shape`) → each (type, id, params) of `chain` in turn → Output."""
    g = Graph()
    g.add_node("Input", "x0", {"shape": list(shape), "dtype": dtype})
    prev, port = "x0", "out"
    for type_, nid, params in chain:
        g.add_node(type_, nid, params)
        g.connect(prev, port, nid, "x")
        prev, port = nid, "y"
    g.add_node("Output", "out")
    g.connect(prev, port, "out", "x")
    return g


def _model(type_, shape, params=None):
    return compile_graph(_graph([(type_, "n", params or {})], shape)).model


# A non-default value for each param (a different dim, bounds, slopes), and an input that fits
PARAMS = {"ELU": {"alpha": 0.7}, "CELU": {"alpha": 2.0}, "Softplus": {"beta": 2.0,
          "threshold": 3.0}, "Hardtanh": {"min_val": -0.5, "max_val": 2.0},
          "Softshrink": {"lambd": 0.3}, "Hardshrink": {"lambd": 0.8},
          "Threshold": {"threshold": 0.1, "value": 20.0}, "RReLU": {"lower": 0.1, "upper": 0.2},
          "PReLU": {"num_parameters": None, "init_value": 0.1}, "LogSoftmax": {"dim": -1},
          "Softmin": {"dim": 2}, "GLU": {"dim": 1}, "Dropout1d": {"p": 0.3},
          "Dropout2d": {"p": 0.3}, "Dropout3d": {"p": 0.3}, "AlphaDropout": {"p": 0.2},
          "FeatureAlphaDropout": {"p": 0.2}}
SHAPES = {"Dropout2d": (4, 3, 5), "Dropout3d": (4, 2, 3, 3), "Softmax2d": (4, 3, 5)}


@pytest.mark.parametrize("type_", TYPES)
def test_each_type_compiles_to_torchs_own_module(type_):
    """The node's module IS nn.<type> (its state_dict keys are torch's), built with the
    node's params under torch's names, and gives what torch's module gives (dropouts in
    training as well, from the same random state)."""
    params = PARAMS.get(type_, {})
    model = _model(type_, SHAPES.get(type_, (4, 6)), params)
    module = model.get_submodule("n")
    assert type(module) is getattr(nn, type_)
    kwargs = {("init" if k == "init_value" else k): v for k, v in params.items()}
    if type_ == "PReLU":
        kwargs["num_parameters"] = 4  # auto: the input's channels
    torch.manual_seed(1)
    ref = getattr(nn, type_)(**kwargs)
    assert module.state_dict().keys() == ref.state_dict().keys()
    for k, v in ref.state_dict().items():
        assert torch.equal(module.state_dict()[k], v), k
    x = torch.randn(5, *SHAPES.get(type_, (4, 6))) * 3
    model.eval()
    ref.eval()
    assert torch.equal(model(x), ref(x))
    if type_ in DROPOUTS or type_ == "RReLU":
        model.train()
        ref.train()
        torch.manual_seed(2)
        got = model(x)
        torch.manual_seed(2)
        assert torch.equal(got, ref(x))


def test_an_activation_chain_with_weights_is_torchs_sequential():
    """Input N × 4 × 6 → PReLU (one slope per channel, auto) → Hardtanh → GLU on the
    channels → LogSoftmax over the last dim, with the PReLU's learned slopes set, gives
    nn.Sequential of the same torch modules with the same weights: N × 2 × 6."""
    g = _graph([("PReLU", "prelu", {"num_parameters": None}),
                ("Hardtanh", "clip", {"min_val": -0.5, "max_val": 2.0}),
                ("GLU", "glu", {"dim": 1}), ("LogSoftmax", "logp", {"dim": -1})], (4, 6))
    assert analyse(g).out_type("logp", "y").shape == ("N", 2, 6)
    model = compile_graph(g).model
    ref = nn.Sequential(nn.PReLU(4), nn.Hardtanh(-0.5, 2.0), nn.GLU(1), nn.LogSoftmax(-1))
    torch.manual_seed(0)
    with torch.no_grad():
        ref[0].weight.copy_(torch.rand(4) - 0.5)
    model.prelu.load_state_dict(ref[0].state_dict())  # torch's own key: 'weight'
    x = torch.randn(7, 4, 6) * 2
    assert torch.allclose(model(x), ref(x), atol=1e-6)
    assert model(x).shape == (7, 2, 6)


def _run(type_, values, params=None):
    x = torch.tensor([values])
    model = _model(type_, (len(values),), params)
    model.eval()
    return model(x)[0].tolist()


SIGMA = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
LAMBDA, ALPHA = 1.0507009873554805, 1.6732632423543772


@pytest.mark.parametrize("type_, params, x, want", [
    ("ELU", {}, [-1.0, 2.0], [math.exp(-1) - 1, 2.0]),  # α (eˣ − 1) below 0
    ("CELU", {"alpha": 2.0}, [-1.0, 1.0], [2 * (math.exp(-0.5) - 1), 1.0]),
    ("SELU", {}, [1.0, -1.0], [LAMBDA, LAMBDA * ALPHA * (math.exp(-1) - 1)]),
    ("Softplus", {}, [0.0, 30.0], [math.log(2), 30.0]),  # x itself above the threshold
    ("Softsign", {}, [1.0, -3.0], [0.5, -0.75]),
    ("Hardtanh", {}, [-2.0, 0.5, 3.0], [-1.0, 0.5, 1.0]),
    ("ReLU6", {}, [-2.0, 3.0, 8.0], [0.0, 3.0, 6.0]),
    ("Hardsigmoid", {}, [0.0, 1.5, -4.0], [0.5, 0.75, 0.0]),
    ("Hardswish", {}, [-3.0, -1.5, 1.0, 3.0], [0.0, -0.375, 4 / 6, 3.0]),
    ("SiLU", {}, [1.0], [SIGMA(1.0)]),
    ("Mish", {}, [1.0, -1.0], [math.tanh(math.log1p(math.e)),
                               -math.tanh(math.log1p(math.exp(-1)))]),
    ("LogSigmoid", {}, [0.0, -200.0], [-math.log(2), -200.0]),  # finite far below −88
    ("Tanhshrink", {}, [1.0, 3.0], [1 - math.tanh(1), 3 - math.tanh(3)]),
    ("Softshrink", {}, [-2.0, 0.3, 1.0], [-1.5, 0.0, 0.5]),
    ("Hardshrink", {}, [-2.0, 0.3, 1.0], [-2.0, 0.0, 1.0]),
    ("Threshold", {"threshold": 0.1, "value": 20.0}, [0.05, 0.5], [20.0, 0.5]),
    ("RReLU", {}, [-1.0, 2.0], [-11 / 48, 2.0]),  # at inference a = (1/8 + 1/3) / 2
    ("PReLU", {}, [-2.0, 3.0], [-0.5, 3.0]),  # a starts at 0.25
    ("LogSoftmax", {}, [1.0, 2.0, 3.0], [v - math.log(math.e + math.e**2 + math.e**3)
                                         for v in (1, 2, 3)]),
    ("Softmin", {}, [1.0, 2.0, 3.0], [math.exp(-v) / sum(math.exp(-u) for u in (1, 2, 3))
                                      for v in (1, 2, 3)]),
    ("GLU", {}, [1.0, 2.0, 0.0, 0.0], [0.5, 1.0]),  # [a, b] → a ⊗ σ(b), σ(0) = ½
])
def test_hand_values_from_the_formulas(type_, params, x, want):
    assert _run(type_, x, params) == pytest.approx(want, abs=1e-5)


def test_the_helps_worked_examples_are_torchs_numbers():
    """The rounded values the help quotes (e.g. 'Mish(1) ≈ 0.865') are torch's."""
    doc = {s.type: s.doc for s in nn_activations.SPECS}
    assert "[−2, 0.3, 1] → [−1.5, 0, 0.5]" in doc["Softshrink"].use_case
    assert "[−2.408, −1.408, −0.408]" in doc["LogSoftmax"].use_case
    assert _run("LogSoftmax", [1.0, 2.0, 3.0]) == pytest.approx([-2.408, -1.408, -0.408],
                                                                abs=5e-4)
    assert _run("Softmin", [1.0, 2.0, 3.0]) == pytest.approx([0.665, 0.245, 0.090], abs=5e-4)
    assert _run("Mish", [1.0, -1.0]) == pytest.approx([0.865, -0.303], abs=5e-4)
    assert _run("SELU", [1.0, -1.0]) == pytest.approx([1.0507, -1.1113], abs=5e-5)
    x = torch.linspace(-3, 0, 30001)
    for type_, low, at in (("SiLU", -0.278, -1.278), ("Mish", -0.309, -1.19),
                           ("Hardswish", -0.375, -1.5)):
        y = getattr(nn, type_)()(x)
        assert y.min().item() == pytest.approx(low, abs=5e-4)
        assert x[y.argmin()].item() == pytest.approx(at, abs=5e-3), type_
        assert f"{low}" in doc[type_].notes.replace("−", "-")


def test_dropout_variants_drop_whole_channels_and_alpha_dropout_keeps_the_moments():
    """Training: Dropout2d zeroes whole feature maps and scales the rest by 1/(1 − p);
    FeatureAlphaDropout sets a dropped channel to a·α′ + b and the kept to a·x + b, with a
    and b from the help's formula; AlphaDropout keeps a standard normal input's mean 0 and
    variance 1. Inference: each is the identity."""
    torch.manual_seed(0)
    p = 0.4
    x = torch.randn(64, 8, 5, 5)
    model = _model("Dropout2d", (8, 5, 5), {"p": p}).train()
    y = model(x)
    kept = (y != 0).flatten(2).any(2)
    assert 0.45 < kept.float().mean() < 0.75  # about 1 − p of the 512 maps
    assert torch.equal((y == 0).flatten(2).all(2), ~kept)  # whole maps, never part of one
    assert torch.allclose(y[kept], x[kept] / (1 - p))
    assert torch.equal(model.eval()(x), x)
    alpha_ = -LAMBDA * ALPHA
    a = ((1 - p) * (1 + p * alpha_**2)) ** -0.5
    b = -a * alpha_ * p
    y = _model("FeatureAlphaDropout", (8, 5, 5), {"p": p}).train()(x)
    dropped = (y - (a * alpha_ + b)).abs().flatten(2).amax(2) < 1e-5
    assert 0.25 < dropped.float().mean() < 0.55
    assert torch.allclose(y[~dropped], a * x[~dropped] + b, atol=1e-5)
    big = torch.randn(200_000)
    y = _model("AlphaDropout", (200_000,), {"p": p}).train()(big[None])[0]
    assert abs(y.mean().item()) < 0.02 and abs(y.var().item() - 1) < 0.02


@pytest.mark.parametrize("type_", DROPOUTS + ["Softmax2d"])
def test_accepted_ranks_are_those_torch_takes_without_a_warning(type_):
    """For ranks 1 to 6 the shape rule accepts exactly the inputs torch's module takes, in
    training and at inference, without an error or a deprecation warning (Dropout2d warns
    on a 3-dim input, Dropout3d on anything but 4 or 5 dims)."""
    spec = catalogue.get(type_)
    for rank in range(1, 7):
        shape = ("N", *[2] * (rank - 1))
        try:
            spec.shape(ShapeContext("n", spec.resolved({}), {"x": TensorType(shape)},
                                    {"x": "src"}))
            accepted = True
        except ShapeError as e:
            accepted = False
            assert e.port == "x" and "'src' gives" in e.message
        runs = True
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                for training in (True, False):
                    getattr(nn, type_)().train(training)(torch.randn(3, *shape[1:]))
            except (RuntimeError, ValueError, UserWarning):
                runs = False
        assert accepted == runs, (type_, rank)


def test_symbolic_sizes_pass_through_where_the_output_does_not_need_them():
    """A sequence N × T × 4 (T set by the data): elementwise types, softmaxes over T and a
    GLU over the 4 features keep T; a GLU over T itself must know T, and says so."""
    chain = [("ELU", "elu", {}), ("LogSoftmax", "logp", {"dim": 1}),
             ("AlphaDropout", "drop", {}), ("GLU", "glu", {"dim": -1})]
    a = analyse(_graph(chain, ("T", 4)))
    assert a.ok, a.errors
    assert a.out_type("logp", "y").shape == ("N", "T", 4)
    assert a.out_type("glu", "y").shape == ("N", "T", 2)
    [issue] = analyse(_graph([("GLU", "n", {"dim": 1})], ("T", 4))).errors
    assert issue.port == "x"
    assert "needs a known, even size there, but 'x0' gives N × T × 4" in issue.message
    assert "T, set by the data" in issue.message


@pytest.mark.parametrize("type_, params, shape, dtype, port, words", [
    ("GLU", {"dim": 1}, (5, 2), "float32", "x",
     "size must be even, but 'x0' gives N × 5 × 2: 5 on dim 1"),
    ("GLU", {"dim": 0}, (4,), "float32", "x", "size on that dim is the batch"),
    ("PReLU", {"num_parameters": 3}, (4, 2), "float32", "x",
     "has num_parameters = 3 (one slope per channel on dim 1) but 'x0' gives N × 4 × 2, with "
     "4 channels there: set it to 1 or 4"),
    ("PReLU", {"num_parameters": None}, (), "float32", "x", "'x0' gives N, which has no dim 1"),
    ("Dropout2d", {}, (3, 4), "float32", "x",
     "needs an image-shaped input N × C × H × W but 'x0' gives N × 3 × 4"),
    ("Dropout1d", {}, (2, 3, 4), "float32", "x", "needs a sequence N × C × L (or C × L) but "
     "'x0' gives N × 2 × 3 × 4"),
    ("Dropout3d", {}, (2, 3), "float32", "x", "needs a volume N × C × D × H × W"),
    ("FeatureAlphaDropout", {}, (), "float32", "x", "needs channels on dim 1"),
    ("Softmax2d", {}, (6,), "float32", "x", "'x0' gives N × 6"),
    ("LogSoftmax", {"dim": 2}, (4,), "float32", "x",
     "has dim = 2 but 'x0' gives N × 4, which has dims -2 to 1"),
    ("Softmin", {"dim": -3}, (4,), "float32", "x", "has dim = -3"),
    ("ELU", {}, (4,), "int64", "x", "needs real numbers (float32) but 'x0' gives int64"),
    ("Dropout1d", {}, (4, 3), "int64", "x", "needs real numbers (float32)"),
    ("Hardtanh", {"min_val": 1.0, "max_val": 1.0}, (4,), "float32", None,
     "needs min_val < max_val (it clips x to [min_val, max_val]) but has min_val = 1.0, "
     "max_val = 1.0"),
    ("RReLU", {"lower": 0.3, "upper": 0.2}, (4,), "float32", None, "needs lower ≤ upper"),
    ("CELU", {"alpha": 0.0}, (4,), "float32", None, "cannot divide by alpha = 0"),
    ("Softplus", {"beta": 0.0}, (4,), "float32", None, "cannot divide by beta = 0"),
])
def test_misfits_are_refused_naming_the_port_and_source(type_, params, shape, dtype, port,
                                                        words):
    [issue] = [i for i in analyse(_graph([(type_, "n", params)], shape, dtype)).errors
               if i.node == "n"]
    assert issue.port == port
    assert words in issue.message, issue.message
    if port is None and type_ == "Softplus":  # torch runs it, and gives ∞ everywhere
        assert nn.Softplus(**params)(torch.randn(3, *shape)).isinf().all()
    elif port is None:  # torch refuses the same params
        with pytest.raises((RuntimeError, AssertionError)):
            getattr(nn, type_)(**params)(torch.randn(3, *shape))
