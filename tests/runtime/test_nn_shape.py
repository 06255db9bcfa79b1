"""Normalisation, padding, resizing and structure layers of torch.nn (graph/catalogue/norm.py,
nn_shape.py): compiled graphs are torch's modules with torch's state_dict keys and give torch's
numbers; the help's worked examples hold; misfits are refused naming the port."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from graph.analysis import analyse
from graph.model import Graph
from runtime.compile import compile_graph


def chain(shape, *layers, dtype="float32"):
    """Input of one sample's `shape` → the layers (type, params) in a row → Output."""
    g = Graph()
    g.add_node("Input", "x", {"shape": list(shape), "dtype": dtype})
    prev, port = "x", "out"
    for i, (type_, params) in enumerate(layers):
        g.add_node(type_, f"n{i}", params)
        g.connect(prev, port, f"n{i}", "x")
        prev, port = f"n{i}", "y"
    g.add_node("Output", "out")
    g.connect(prev, port, "out", "x")
    return g


def pair(type_, params, shape1, shape2):
    """Inputs a and b into the two ports x1, x2 of one node of `type_`."""
    g = Graph()
    g.add_node("Input", "a", {"shape": list(shape1)})
    g.add_node("Input", "b", {"shape": list(shape2)})
    g.add_node(type_, "n", params)
    g.connect("a", "out", "n", "x1")
    g.connect("b", "out", "n", "x2")
    g.add_node("Output", "out")
    g.connect("n", "y", "out", "x")
    return g


def randomise(model):
    """Random affine weights (γ = 1, β = 0 would hide a wrong copy) and running stats."""
    torch.manual_seed(1)
    with torch.no_grad():
        for t in (*model.parameters(), *model.buffers()):
            if t.is_floating_point():
                t.copy_(torch.rand_like(t) + 0.5)


def test_norm_family_is_torchs_modules_with_torchs_keys():
    """InstanceNorm2d → GroupNorm → LocalResponseNorm → RMSNorm → BatchNorm2d compile to the
    torch classes, with torch's state_dict keys, and give what those modules give with the
    same weights (in training and at inference)."""
    g = chain((4, 5, 6), ("InstanceNorm2d", {"affine": True, "track_running_stats": True}),
              ("GroupNorm", {"num_groups": 2}), ("LocalResponseNorm", {"size": 3}),
              ("RMSNorm", {}), ("BatchNorm2d", {}))
    model = compile_graph(g).model
    randomise(model)
    want = [nn.InstanceNorm2d(4, affine=True, track_running_stats=True), nn.GroupNorm(2, 4),
            nn.LocalResponseNorm(3), nn.RMSNorm([6]), nn.BatchNorm2d(4)]
    for i, ref in enumerate(want):
        mine = model.get_submodule(f"n{i}")
        assert type(mine) is type(ref)
        assert list(mine.state_dict()) == list(ref.state_dict())
        ref.load_state_dict(mine.state_dict())
    reference = nn.Sequential(*want)
    x = torch.randn(8, 4, 5, 6)
    for mode in ("train", "eval"):
        getattr(model, mode)()
        getattr(reference, mode)()
        assert torch.allclose(model(x), reference(x), atol=1e-5)
    assert set(model.state_dict()) == {f"n{i}.{k}" for i, ref in enumerate(want)
                                       for k in ref.state_dict()}


def test_batchnorm3d_and_instance_norm1d_are_torchs():
    model = compile_graph(chain((3, 2, 4, 4), ("BatchNorm3d", {"momentum": 0.2}))).model
    assert isinstance(model.n0, nn.BatchNorm3d) and model.n0.momentum == 0.2
    x = torch.randn(5, 3, 2, 4, 4)
    assert torch.allclose(model(x), F.batch_norm(x, None, None, training=True), atol=1e-5)
    model = compile_graph(chain((1, 3), ("InstanceNorm1d", {}))).model
    got = model(torch.tensor([[[1.0, 2.0, 3.0]]]))[0, 0]
    assert got.tolist() == pytest.approx([-1.2247, 0.0, 1.2247], abs=1e-4)  # the help's example


def test_norm_hand_values():
    """The help's examples: RMSNorm [3, 4] → [0.8485, 1.1314]; LocalResponseNorm with n = 2,
    α = β = k = 1 on channels [1, 2]: 1/(1 + 1/2) and 2/(1 + 5/2)."""
    model = compile_graph(chain((2,), ("RMSNorm", {"eps": 0.0}))).model
    got = model(torch.tensor([[3.0, 4.0]]))[0].tolist()
    assert got == pytest.approx([3 / math.sqrt(12.5), 4 / math.sqrt(12.5)], abs=1e-6)
    assert got == pytest.approx([0.8485, 1.1314], abs=1e-4)
    model = compile_graph(chain((2, 1), ("LocalResponseNorm", {"size": 2, "alpha": 1.0,
                                                               "beta": 1.0, "k": 1.0}))).model
    got = model(torch.tensor([[[1.0], [2.0]]]))[0, :, 0].tolist()
    assert got == pytest.approx([1 / 1.5, 2 / 3.5], abs=1e-6)


def test_padding_family_is_torchs_and_its_hand_values():
    """Every mode pads [1, 2, 3] by 2 as the help says; a 2d chain in torch's side order
    (left, right, top, bottom) is torch's F.pad."""
    x = torch.tensor([[[1.0, 2.0, 3.0]]])
    want = {"ZeroPad1d": [0, 0, 1, 2, 3, 0, 0], "ConstantPad1d": [9, 9, 1, 2, 3, 9, 9],
            "ReflectionPad1d": [3, 2, 1, 2, 3, 2, 1], "ReplicationPad1d": [1, 1, 1, 2, 3, 3, 3],
            "CircularPad1d": [2, 3, 1, 2, 3, 1, 2]}
    for type_, values in want.items():
        params = {"padding": [2], **({"value": 9.0} if type_ == "ConstantPad1d" else {})}
        model = compile_graph(chain((1, 3), (type_, params))).model
        assert type(model.n0) is getattr(nn, type_)
        assert model(x)[0, 0].tolist() == values, type_
    g = chain((2, 4, 5), ("ReflectionPad2d", {"padding": [1, 2, 3, 0]}),
              ("ConstantPad2d", {"padding": [0, 1, 0, 1], "value": -1.5}),
              ("CircularPad2d", {"padding": [1]}))
    assert analyse(g).types[("n2", "y")].shape == ("N", 2, 4 + 3 + 1 + 2, 5 + 3 + 1 + 2)
    x = torch.randn(3, 2, 4, 5)
    y = F.pad(F.pad(F.pad(x, (1, 2, 3, 0), mode="reflect"), (0, 1, 0, 1), value=-1.5),
              (1, 1, 1, 1), mode="circular")
    assert torch.equal(compile_graph(g).model(x), y)


def test_resizing_family_is_torchs_and_its_hand_values():
    """Upsample (bilinear, align_corners) → PixelUnshuffle → PixelShuffle → ChannelShuffle is
    torch's; PixelShuffle puts channels [1], [2], [3], [4] into [[1, 2], [3, 4]];
    UpsamplingBilinear2d stretches [[0, 3]] to [0, 1, 2, 3]; nearest 2× repeats."""
    g = chain((4, 3, 5), ("Upsample", {"scale_factor": 2.0, "mode": "bilinear",
                                       "align_corners": True}),
              ("PixelUnshuffle", {}), ("PixelShuffle", {"upscale_factor": 2}),
              ("ChannelShuffle", {"groups": 2}))
    x = torch.randn(3, 4, 3, 5)
    up = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=True)
    want = F.channel_shuffle(F.pixel_shuffle(F.pixel_unshuffle(up, 2), 2), 2)
    assert torch.allclose(compile_graph(g).model(x), want, atol=1e-6)
    shuffle = compile_graph(chain((4, 1, 1), ("PixelShuffle", {}))).model
    assert shuffle(torch.arange(1.0, 5.0).view(1, 4, 1, 1))[0, 0].tolist() == [[1, 2], [3, 4]]
    bilinear = compile_graph(chain((1, 1, 2), ("UpsamplingBilinear2d",
                                               {"size": [2, 4], "scale_factor": None}))).model
    assert bilinear(torch.tensor([[[[0.0, 3.0]]]]))[0, 0].tolist() == [[0, 1, 2, 3]] * 2
    nearest = compile_graph(chain((1, 1, 2), ("UpsamplingNearest2d", {}))).model
    assert nearest(torch.tensor([[[[1.0, 2.0]]]]))[0, 0].tolist() == [[1, 1, 2, 2]] * 2
    g = chain((2, 5), ("Upsample", {"scale_factor": 1.5, "mode": "linear"}))
    assert analyse(g).types[("n0", "y")].shape == ("N", 2, 7)  # ⌊5 × 1.5⌋


def test_structure_family_is_torchs():
    """Unfold then Fold with blocks that do not overlap gives the image back; with overlaps
    Fold adds them up (the centre of 3 × 3 four times); Unflatten and Identity are torch's."""
    g = chain((2, 4, 6), ("Unfold", {"kernel_size": [2, 3], "stride": [2, 3]}),
              ("Fold", {"output_size": [4, 6], "kernel_size": [2, 3], "stride": [2, 3]}),
              ("Identity", {}), ("Unflatten", {"dim": -1, "unflattened_size": [2, -1]}))
    model = compile_graph(g).model
    assert [type(m) for m in model.children()] == [nn.Unfold, nn.Fold, nn.Identity,
                                                   nn.Unflatten]
    x = torch.randn(3, 2, 4, 6)
    assert torch.equal(model(x), x.view(3, 2, 4, 2, 3))
    g = chain((1, 3, 3), ("Unfold", {}), ("Fold", {"output_size": [3]}))
    got = compile_graph(g).model(torch.ones(1, 1, 3, 3))[0, 0]
    assert got.tolist() == [[1, 2, 1], [2, 4, 2], [1, 2, 1]]
    assert analyse(g).types[("n0", "y")].shape == ("N", 4, 4)


def test_two_input_layers_are_torchs_and_their_hand_values():
    """Bilinear is torch's F.bilinear with its weights (A = I gives the dot product 11);
    CosineSimilarity of [1, 0] and [1, 1] is 1/√2; [0, 0] and [3, 4] are 5 apart."""
    model = compile_graph(pair("Bilinear", {"out_features": 3}, (4, 2), (4, 5))).model
    assert isinstance(model.n, nn.Bilinear) and set(model.state_dict()) == {"n.weight",
                                                                             "n.bias"}
    a, b = torch.randn(6, 4, 2), torch.randn(6, 4, 5)
    assert torch.allclose(model(a, b), F.bilinear(a, b, model.n.weight, model.n.bias))
    model = compile_graph(pair("Bilinear", {"out_features": 1, "bias": False}, (2,), (2,))).model
    with torch.no_grad():
        model.n.weight.copy_(torch.eye(2)[None])
    assert model(torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 4.0]])).item() == 11
    model = compile_graph(pair("CosineSimilarity", {}, (2,), (2,))).model
    assert model(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]])).item() == \
        pytest.approx(1 / math.sqrt(2))
    g = pair("CosineSimilarity", {"dim": -1}, (3, 4), (1, 4))  # broadcast
    assert analyse(g).types[("n", "y")].shape == ("N", 3)
    a, b = torch.randn(5, 3, 4), torch.randn(5, 1, 4)
    assert torch.allclose(compile_graph(g).model(a, b), F.cosine_similarity(a, b, dim=-1))
    model = compile_graph(pair("PairwiseDistance", {"eps": 0.0, "keepdim": True}, (2,),
                               (2,))).model
    assert model(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]])).tolist() == [[5.0]]


def errors(g):
    return [i for i in analyse(g).errors if i.node.startswith("n")]


@pytest.mark.parametrize("shape, layer, port, words", [
    ((3, 3), ("ReflectionPad1d", {"padding": [3]}), "x",
     "reflection padding must be less than the size there (3)"),
    ((3, 3), ("CircularPad1d", {"padding": [0, 4]}), "x", "at most the size there (3)"),
    ((3,), ("ZeroPad2d", {"padding": [1]}), "x", "needs N × C × H × W (or N × H × W)"),
    ((2, 3, 3), ("ZeroPad2d", {"padding": [1, 1]}), None,
     "give one number (every side) or 4 (left, right, top, bottom)"),
    ((4, 5), ("GroupNorm", {"num_groups": 3}), "x", "C = 4 is not divisible by 3"),
    ((4, 1, 1), ("InstanceNorm2d", {}), "x", "needs more than one position per channel"),
    ((3, 5), ("RMSNorm", {"normalized_shape": [3, 4]}), "x",
     "whose last dims are [3, 5]: they differ"),
    ((3, 5), ("Upsample", {"mode": "bilinear"}), "x",
     "needs N × C × H × W (bilinear) but 'x' gives N × 3 × 5"),
    ((3, 5), ("Upsample", {"align_corners": True}), None, "leave it on auto for 'nearest'"),
    ((3, 5), ("Upsample", {"size": [4]}), None, "needs exactly one of size and scale_factor"),
    ((3, 5), ("Upsample", {"scale_factor": 0.1}), "x", "a size must be at least 1"),
    ((3, 4, 4), ("PixelShuffle", {}), "x", "C = 3 is not divisible by 4"),
    ((3, 5, 4), ("PixelUnshuffle", {}), "x", "5 × 4 is not divisible by 2"),
    ((6, 3), ("Unflatten", {"dim": 1, "unflattened_size": [4, -1]}), "x",
     "but 6 values do not make 4 × -1"),
    ((6, 3), ("Unflatten", {"dim": 0}), "x", "whose dims after the batch are 1 to 2"),
    ((1, 2, 2), ("Unfold", {"kernel_size": [3]}), "x",
     "gives 0 × 0 blocks, and each must be at least 1"),
    ((8, 5), ("Fold", {"output_size": [3]}), "x", "needs N × (C·2·2) × 4"),
    ((1, 2, 2), ("Unfold", {}), "x", "needs real numbers (float32)"),
])
def test_misfits_are_refused_naming_the_port(shape, layer, port, words):
    dtype = "int64" if words.startswith("needs real") else "float32"
    [issue] = errors(chain(shape, layer, dtype=dtype))
    assert issue.port == port
    assert words in issue.message, issue.message


@pytest.mark.parametrize("type_, params, shapes, words", [
    ("Bilinear", {}, [(3, 4), (2, 4)], "needs x1 and x2 alike but for their last dim, but 'a' "
                                       "gives N × 3 × 4 and 'b' gives N × 2 × 4"),
    ("Bilinear", {"in2_features": 5}, [(4,), (3,)], "expects 5 features but 'b' gives 3"),
    ("CosineSimilarity", {}, [(3, 4), (2, 4)], "cannot broadcast 'a''s N × 3 × 4 with "
                                               "'b''s N × 2 × 4 (sizes 3 and 2"),
    ("PairwiseDistance", {}, [(4,), (5,)], "cannot broadcast"),
])
def test_two_input_misfits_are_refused_naming_the_port(type_, params, shapes, words):
    [issue] = errors(pair(type_, params, *shapes))
    assert issue.port == "x2"
    assert words in issue.message, issue.message


def test_symbolic_sizes_pass_where_the_output_does_not_depend_on_them():
    """A sequence N × 2 × T: padding or scaling T needs a number (refused in words); what
    leaves T alone, or sets the size outright, passes it through."""
    def out(*layer):
        g = chain((2, "T"), *layer)
        a = analyse(g)
        return a.types.get(("n0", "y")), [i.message for i in a.errors if i.node == "n0"]
    assert out(("ZeroPad1d", {"padding": [0]}))[0].shape == ("N", 2, "T")
    assert out(("Upsample", {"size": [8], "scale_factor": None}))[0].shape == ("N", 2, 8)
    assert out(("InstanceNorm1d", {}))[0].shape == ("N", 2, "T")
    assert out(("ChannelShuffle", {}))[0].shape == ("N", 2, "T")
    assert out(("Unflatten", {"dim": 1, "unflattened_size": [2, 1]}))[0].shape == \
        ("N", 2, 1, "T")
    for layer, words in [
        (("ZeroPad1d", {"padding": [1]}), "needs known sizes on dims 2 (padded by 1 + 1) but "
                                          "'x' gives N × 2 × T"),
        (("Upsample", {}), "needs known sizes on dims 2 (scaled by 2.0)"),
        (("RMSNorm", {}), "needs a known last size"),
        (("RMSNorm", {"normalized_shape": [4]}), "whose last dims are ['T']: a known size is "
                                                 "needed"),
        (("Unflatten", {"dim": 2, "unflattened_size": [2, -1]}), "needs known sizes on dims 2"),
    ]:
        t, problems = out(layer)
        assert t is None and len(problems) == 1 and words in problems[0], (layer, problems)
