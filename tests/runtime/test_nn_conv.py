"""torch.nn's convolutions and poolings over 1, 2 and 3 axes (graph/catalogue/nn_conv.py and
the 2-d members in conv.py): compiled, each is torch's class with torch's state_dict keys and
gives its numbers; hand values from the formulas; misfits refused naming the port; the 2-d
members set as before build what they built before issue 26."""
import pytest
import torch
import torch.nn.functional as F

from graph import catalogue
from graph.analysis import analyse
from graph.model import Graph
from graph.spec import BuildContext, Call, Make, ShapeContext, ShapeError, TensorType
from runtime.compile import compile_graph


def one_node(type_, shape, params=None, dtype="float32"):
    """Input (one sample's `shape`) → a node of `type_` → Output: the graph."""
    g = Graph()
    g.add_node("Input", "x0", {"shape": list(shape), "dtype": dtype})
    g.add_node(type_, "n", params or {})
    g.add_node("Output", "out")
    g.connect("x0", "out", "n", "x")
    g.connect("n", "y", "out", "x")
    return g


def compiled(type_, shape, params=None):
    return compile_graph(one_node(type_, shape, params)).model


@pytest.mark.parametrize("type_, shape, params, torch_module", [
    ("Conv1d", (4, 11), {"out_channels": 6, "kernel_size": 3, "padding": "same", "dilation": 2,
                         "groups": 2, "padding_mode": "reflect"},
     lambda: torch.nn.Conv1d(4, 6, 3, padding=2, dilation=2, groups=2, padding_mode="reflect")),
    ("Conv2d", (6, 9, 7), {"out_channels": 6, "kernel_size": 3, "stride": 2, "padding": 1,
                           "groups": 6, "bias": False},  # MobileNet's depthwise conv
     lambda: torch.nn.Conv2d(6, 6, 3, stride=2, padding=1, groups=6, bias=False)),
    ("Conv3d", (2, 5, 6, 7), {"out_channels": 4, "kernel_size": 2, "padding": 1,
                              "padding_mode": "circular"},
     lambda: torch.nn.Conv3d(2, 4, 2, padding=1, padding_mode="circular")),
    ("ConvTranspose1d", (4, 5), {"out_channels": 2, "kernel_size": 3, "stride": 2,
                                 "output_padding": 1, "groups": 2},
     lambda: torch.nn.ConvTranspose1d(4, 2, 3, stride=2, output_padding=1, groups=2)),
    ("ConvTranspose2d", (3, 4, 5), {"out_channels": 2, "kernel_size": 3, "stride": 1,
                                    "dilation": 2, "output_padding": 1},
     lambda: torch.nn.ConvTranspose2d(3, 2, 3, stride=1, dilation=2, output_padding=1)),
    ("ConvTranspose3d", (2, 3, 4, 5), {"out_channels": 3},
     lambda: torch.nn.ConvTranspose3d(2, 3, 2, stride=2)),
])
def test_convolutions_are_torchs_modules_with_its_weights(type_, shape, params, torch_module):
    """The compiled node is the torch class (state_dict keys weight, bias as torch's), and with
    the same weights it gives the same numbers."""
    torch.manual_seed(0)
    model = compiled(type_, shape, params)
    ref = torch_module()
    assert type(model.n) is type(ref)
    assert list(model.n.state_dict()) == list(ref.state_dict())
    model.n.load_state_dict(ref.state_dict())
    x = torch.randn(3, *shape)
    assert torch.allclose(model(x), ref(x), atol=1e-6)


@pytest.mark.parametrize("type_, shape, params, ref", [
    ("MaxPool1d", (2, 11), {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2,
                            "ceil_mode": True},
     lambda x: F.max_pool1d(x, 3, 2, 1, 2, ceil_mode=True)),
    ("MaxPool2d", (2, 7, 8), {"kernel_size": 3, "stride": 2, "ceil_mode": True},
     lambda x: F.max_pool2d(x, 3, 2, ceil_mode=True)),
    ("MaxPool3d", (2, 5, 6, 7), {"kernel_size": 2, "padding": 1},
     lambda x: F.max_pool3d(x, 2, 2, 1)),
    ("AvgPool1d", (2, 9), {"kernel_size": 4, "stride": 3, "padding": 2,
                           "count_include_pad": False},
     lambda x: F.avg_pool1d(x, 4, 3, 2, count_include_pad=False)),
    ("AvgPool2d", (2, 7, 7), {"kernel_size": 3, "padding": 1, "ceil_mode": True,
                              "count_include_pad": False},
     lambda x: F.avg_pool2d(x, 3, 3, 1, ceil_mode=True, count_include_pad=False)),
    ("AvgPool3d", (2, 4, 5, 6), {"kernel_size": 2, "ceil_mode": True},
     lambda x: F.avg_pool3d(x, 2, 2, ceil_mode=True)),
    ("AdaptiveAvgPool1d", (3, 10), {"output_size": [4]}, lambda x: F.adaptive_avg_pool1d(x, 4)),
    ("AdaptiveAvgPool2d", (3, 9, 7), {"output_size": [2, 3]},
     lambda x: F.adaptive_avg_pool2d(x, (2, 3))),
    ("AdaptiveAvgPool3d", (2, 5, 4, 3), {"output_size": [1]},
     lambda x: F.adaptive_avg_pool3d(x, 1)),
    ("AdaptiveMaxPool1d", (3, 10), {"output_size": [3]}, lambda x: F.adaptive_max_pool1d(x, 3)),
    ("AdaptiveMaxPool2d", (3, 9, 7), {"output_size": [4]},
     lambda x: F.adaptive_max_pool2d(x, 4)),
    ("AdaptiveMaxPool3d", (2, 5, 4, 3), {"output_size": [2, 2, 1]},
     lambda x: F.adaptive_max_pool3d(x, (2, 2, 1))),
    ("LPPool1d", (2, 9), {"norm_type": 3.0, "kernel_size": 3, "stride": 2},
     lambda x: F.lp_pool1d(x, 3.0, 3, 2)),
    ("LPPool2d", (2, 6, 7), {"kernel_size": 2, "ceil_mode": True},
     lambda x: F.lp_pool2d(x, 2.0, 2, 2, ceil_mode=True)),
    ("LPPool3d", (2, 4, 5, 6), {"kernel_size": 2}, lambda x: F.lp_pool3d(x, 2.0, 2, 2)),
])
def test_poolings_give_torchs_numbers(type_, shape, params, ref):
    model = compiled(type_, shape, params)
    x = torch.rand(3, *shape)  # non-negative: LPPool's odd powers stay real
    got = model(x)
    assert got.shape == ref(x).shape
    assert torch.allclose(got, ref(x), atol=1e-5)
    if type_[-2] in "13" or not type_.startswith(("Max", "Avg")):  # 2-d: a function, as before
        assert type(model.n) is getattr(torch.nn, type_)  # the torch.nn class itself


@pytest.mark.parametrize("dims", [2, 3])
def test_fractional_max_pool_is_torchs_and_random_at_inference(dims):
    """With the same random state it is torch's FractionalMaxPool (every value one of the
    input's); in eval mode two calls still differ (new windows each call)."""
    shape = (2, *[9] * dims)
    model = compiled(f"FractionalMaxPool{dims}d", shape, {"kernel_size": 2,
                                                          "output_size": [5]})
    model.eval()
    x = torch.randn(4, *shape)
    torch.manual_seed(1)
    got = model(x)
    torch.manual_seed(1)
    ref = getattr(torch.nn, f"FractionalMaxPool{dims}d")(2, output_size=5)(x)
    assert torch.equal(got, ref) and got.shape == (4, 2, *[5] * dims)
    assert torch.isin(got, x).all()
    assert not torch.equal(model(x), model(x))


def test_hand_values():
    """Dilated Conv1d with weights [1, 1], D = 2: y[t] = x[t] + x[t + 2]; max and average
    pooling, adaptive windows ⌊i·L/O⌋ … ⌈(i + 1)·L/O⌉ − 1, and the p-norm of LPPool."""
    model = compiled("Conv1d", (1, 5), {"out_channels": 1, "kernel_size": 2, "dilation": 2,
                                        "bias": False})
    with torch.no_grad():
        model.n.weight.fill_(1.0)
    row = torch.tensor([[[1.0, 2.0, 3.0, 4.0, 5.0]]])
    assert model(row).tolist() == [[[4.0, 6.0, 8.0]]]
    assert compiled("AdaptiveAvgPool1d", (1, 5), {"output_size": [2]})(row).tolist() == \
        [[[2.0, 4.0]]]
    assert compiled("AdaptiveMaxPool1d", (1, 5), {"output_size": [2]})(row).tolist() == \
        [[[3.0, 5.0]]]
    x = torch.tensor([[[1.0, 3.0, 2.0, 5.0, 4.0, 0.0]]])
    assert compiled("MaxPool1d", (1, 6), {})(x).tolist() == [[[3.0, 5.0, 4.0]]]
    assert compiled("AvgPool1d", (1, 4), {})(torch.tensor([[[1.0, 3.0, 2.0, 6.0]]])).tolist() \
        == [[[2.0, 4.0]]]
    got = compiled("LPPool1d", (1, 4), {})(torch.tensor([[[3.0, 4.0, 0.0, 0.0]]]))
    assert got[0, 0].tolist() == pytest.approx([5.0, 0.0])
    got = compiled("LPPool2d", (1, 2, 2), {})(torch.tensor([[[[3.0, 0.0], [0.0, 4.0]]]]))
    assert got.item() == pytest.approx(5.0)


def _issue(g):
    [issue] = [i for i in analyse(g).errors if i.node == "n"]
    return issue


@pytest.mark.parametrize("type_, shape, params, dtype, port, words", [
    ("Conv1d", (3, 4), {"kernel_size": 5}, "float32", "x",
     "kernel 5 does not fit the length 4 of its input from 'x0' (padding 0)"),
    ("Conv1d", (3, 9), {"kernel_size": 3, "dilation": 5}, "float32", "x",
     "⌊(I + 2P − D·(F − 1) − 1) / S⌋ + 1 = ⌊(9 + 0 − 10 − 1) / 1⌋ + 1 < 1"),
    ("Conv2d", (3, 8, 8), {"groups": 2, "out_channels": 4}, "float32", "x",
     "groups 2 must divide the input channels, but 'x0' gives 3"),
    ("Conv2d", (4, 8, 8), {"groups": 2, "out_channels": 5}, "float32", None,
     "groups 2 must divide out_channels 5"),
    ("Conv2d", (3, 2, 8), {"padding": 2, "padding_mode": "reflect"}, "float32", "x",
     "padding 2 in 'reflect' mode must be less than each input size, but 'x0' gives "
     "N × 3 × 2 × 8"),
    ("Conv3d", (3, 8, 8), {}, "float32", "x",
     "needs a volume-shaped input N × C × D × H × W but 'x0' gives N × 3 × 8 × 8"),
    ("ConvTranspose1d", (3, 8), {"output_padding": 2, "stride": 2}, "float32", None,
     "output_padding 2 must be smaller than the stride (2) or the dilation (1)"),
    ("MaxPool3d", (2, 4, 4, 4), {}, "int64", "x", "needs real numbers (float32)"),
    ("MaxPool1d", (2, 5), {"kernel_size": 3, "padding": 2}, "float32", None,
     "padding 2 must be at most half the kernel (1)"),
    ("AvgPool3d", (2, 2, 5, 5), {"kernel_size": 3, "padding": 1}, "float32", "x",
     "window 3 × 3 × 3 must fit inside its 2 × 5 × 5 input from 'x0'"),
    ("AdaptiveAvgPool2d", (3, 8), {}, "float32", "x",
     "needs an image-shaped input N × C × H × W but 'x0' gives N × 3 × 8"),
    ("AdaptiveMaxPool3d", (2, 4, 4, 4), {"output_size": [2, 2]}, "float32", None,
     "output_size lists 2 sizes but this pool has 3 spatial axes (D, H, W): give 1 (for all) "
     "or 3"),
    ("LPPool2d", (2, 3, 8), {"kernel_size": 4}, "float32", "x",
     "window 4 × 4 does not fit its 3 × 8 input from 'x0'"),
    ("FractionalMaxPool2d", (2, 10, 10), {"kernel_size": 3, "output_size": [9]}, "float32",
     "x", "output size 9 with kernel 3 needs O + F − 1 = 11 input values on axis 2, but 'x0' "
          "gives N × 2 × 10 × 10"),
])
def test_misfits_are_refused_naming_the_port(type_, shape, params, dtype, port, words):
    issue = _issue(one_node(type_, shape, params, dtype))
    assert issue.port == port
    assert words in issue.message, issue.message


def _shape(type_, shape, params):
    spec = catalogue.get(type_)
    return spec.shape(ShapeContext("n", spec.resolved(params), {"x": TensorType(shape)},
                                   {"x": "src"}))["y"].shape


def test_symbolic_sizes_pass_where_the_output_keeps_them_and_are_refused_where_not():
    assert _shape("Conv1d", ("N", 4, "T"), {"padding": "same", "dilation": 2}) == \
        ("N", 16, "T")
    assert _shape("Conv2d", ("N", 4, "H", 5), {"kernel_size": 1}) == ("N", 16, "H", 5)
    assert _shape("AdaptiveAvgPool1d", ("N", 4, "T"), {"output_size": [3]}) == ("N", 4, 3)
    assert _shape("FractionalMaxPool2d", ("N", 4, "H", "W"), {}) == ("N", 4, 14, 14)
    for type_, params in (("Conv1d", {"stride": 2}), ("ConvTranspose1d", {}),
                          ("MaxPool1d", {}), ("LPPool1d", {})):
        with pytest.raises(ShapeError) as e:
            _shape(type_, ("N", 4, "T"), params)
        assert e.value.port == "x"
        assert "needs a known size on axis 2 but 'src' gives N × 4 × T" in e.value.message


@pytest.mark.parametrize("type_, params, target, kwargs", [
    ("Conv2d", {"out_channels": 8, "padding": "same"}, "nn.Conv2d",
     {"in_channels": 3, "out_channels": 8, "kernel_size": 3, "stride": 1, "padding": 1,
      "bias": True}),
    ("ConvTranspose2d", {"out_channels": 4}, "nn.ConvTranspose2d",
     {"in_channels": 3, "out_channels": 4, "kernel_size": 2, "stride": 2, "padding": 0,
      "bias": True}),
    ("MaxPool2d", {}, "F.max_pool2d", {"kernel_size": 2, "stride": 2, "padding": 0}),
    ("AvgPool2d", {"kernel_size": 3, "padding": 1}, "F.avg_pool2d",
     {"kernel_size": 3, "stride": 3, "padding": 1}),
])
def test_the_2d_members_set_as_before_build_what_they_built(type_, params, target, kwargs):
    """Issue 26 added params after the old ones; at their defaults the build is unchanged (a
    project saved before compiles to the same modules and functions, state_dict keys too)."""
    spec = catalogue.get(type_)
    ins = {"x": TensorType(("N", 3, 8, 8))}
    p = spec.resolved(params)
    plan = spec.build(BuildContext("n", p, ins, spec.shape(ShapeContext("n", p, ins,
                                                                        {"x": "x"}))))
    assert type(plan) is (Call if target.startswith("F.") else Make)
    assert plan.target == target and dict(plan.kwargs) == kwargs
    assert [q.name for q in spec.params][:3] == (
        ["out_channels", "kernel_size", "stride"] if "Conv" in type_ else
        ["kernel_size", "stride", "padding"])
