"""Inside the network (runtime.inside): each wire's value, saliency, Grad-CAM, the first
convolution's filters and dead units, each against a direct computation."""
import pytest
import torch
import torch.nn.functional as F

from graph.model import Graph
from runtime import inside
from runtime.compile import compile_graph
from tests.graphs import chain, classifier_head, cnn_graph, mlp_graph


def _cnn():
    torch.manual_seed(0)
    return compile_graph(cnn_graph())


def _digit():
    torch.manual_seed(1)
    return torch.rand(1, 8, 8)


def _logits(c, x):
    """The cnn graph's logits by hand, through the same modules."""
    m = c.modules
    h = F.max_pool2d(torch.relu(m.conv1(x)), 2)
    h = F.max_pool2d(torch.relu(m.conv2(h)), 2)
    return m.fc1(h.flatten(1))


def test_node_outputs_are_the_models_intermediate_values():
    c, x = _cnn(), _digit()
    o = inside.node_outputs(c, {"image": x})
    m = c.modules
    with torch.no_grad():
        a1 = m.conv1(x[None])
        r1 = torch.relu(a1)
        p1 = F.max_pool2d(r1, 2)
        a2 = m.conv2(p1)
        logits = _logits(c, x[None])
    for key, want in [(("image", "out"), x), (("conv1", "y"), a1[0]), (("relu1", "y"), r1[0]),
                      (("pool1", "y"), p1[0]), (("conv2", "y"), a2[0]),
                      (("fc1", "y"), logits[0]), (("softmax", "y"), logits.softmax(1)[0])]:
        assert torch.allclose(o[key], want, atol=1e-6), key
    with torch.no_grad():  # the last wire is what the model returns
        assert torch.allclose(o[("softmax", "y")], c.model(x[None])[0], atol=1e-7)
    assert o[("flatten", "y")].shape == (128,)


def test_saliency_is_autograds_gradient_of_the_logit():
    c, x = _cnn(), _digit()
    s = inside.saliency(c, {"image": x}, "out")
    xx = x[None].clone().requires_grad_(True)
    logits = _logits(c, xx)
    assert s.cls == int(logits.argmax())  # the predicted class by default
    want, = torch.autograd.grad(logits[0, s.cls], xx)
    assert torch.allclose(s.gradient, want[0], atol=1e-6)
    assert torch.allclose(s.map, want[0].abs().amax(0))
    s3 = inside.saliency(c, {"image": x}, "out", cls=3)
    want3, = torch.autograd.grad(_logits(c, xx)[0, 3], xx)
    assert s3.cls == 3 and torch.allclose(s3.gradient, want3[0], atol=1e-6)


def test_saliency_of_an_output_without_softmax():
    torch.manual_seed(2)
    c = compile_graph(mlp_graph((6, 5, 3)))
    x = torch.randn(6)
    s = inside.saliency(c, {"x": x}, "out", cls=1)
    xx = x[None].clone().requires_grad_(True)
    want, = torch.autograd.grad(c.model(xx)[0, 1], xx)
    assert torch.allclose(s.gradient, want[0], atol=1e-6)
    with pytest.raises(inside.InsideError, match="class 7 is not among the 3 scores of 'out'"):
        inside.saliency(c, {"x": x}, "out", cls=7)
    with pytest.raises(inside.InsideError, match="Grad-CAM needs a 2-D convolution"):
        inside.grad_cam(c, {"x": x}, "out")


def test_grad_cam_equals_a_direct_computation():
    c, x = _cnn(), _digit()
    g = inside.grad_cam(c, {"image": x}, "out", cls=4)
    assert g.layer == "conv2"
    m = c.modules
    a = m.conv2(F.max_pool2d(torch.relu(m.conv1(x[None])), 2))  # 1 × 32 × 4 × 4
    logits = m.fc1(F.max_pool2d(torch.relu(a), 2).flatten(1))
    d, = torch.autograd.grad(logits[0, 4], a)
    alpha = d[0].mean((1, 2))
    cam = torch.relu((alpha[:, None, None] * a[0]).sum(0))
    assert torch.allclose(g.alpha, alpha, atol=1e-6)
    assert torch.allclose(g.cam, cam.detach(), atol=1e-6)
    up = F.interpolate(cam[None, None].detach(), size=(8, 8), mode="bilinear",
                       align_corners=False)[0, 0]
    assert g.map.shape == (8, 8)
    if float(up.max()) > 0:
        assert torch.allclose(g.map, up / up.max(), atol=1e-6)


def test_the_first_convolutions_filters():
    c = _cnn()
    f = inside.first_filters(c)
    assert f.layer == "conv1" and torch.equal(f.weight, c.modules.conv1.weight.detach())
    im = f.images()
    assert im.shape == (16, 1, 3, 3)
    assert torch.allclose(im.amin((1, 2, 3)), torch.zeros(16))
    assert torch.allclose(im.amax((1, 2, 3)), torch.ones(16))


def test_dead_units_equal_a_direct_count():
    g = Graph()
    g.add_node("Input", "x", {"shape": [4]})
    last = chain(g, "x", [("Linear", "fc1", {"out_features": 8}), ("ReLU", "act1", {}),
                          ("Linear", "fc2", {"out_features": 3})])
    classifier_head(g, last)
    torch.manual_seed(3)
    c = compile_graph(g)
    dead = [1, 4, 6]
    with torch.no_grad():
        c.modules.fc1.bias[dead] = -100.0  # these units never fire on inputs in [-1, 1]
    xs = torch.rand(200, 4) * 2 - 1
    stats = {(s.node, s.port): s for s in inside.activation_stats(c, {"x": xs})}
    relu = stats[("act1", "y")]
    with torch.no_grad():
        h = torch.relu(c.modules.fc1(xs))
    direct = [i for i in range(8) if not (h[:, i] > 0).any()]
    assert relu.relu_like and relu.units == 8
    assert relu.dead == direct and set(dead) <= set(direct)
    assert relu.dead_share == len(direct) / 8
    assert relu.mean == pytest.approx(float(h.mean()), abs=1e-6)
    assert relu.std == pytest.approx(float(h.std()), abs=1e-6)
    assert not stats[("fc1", "y")].relu_like and stats[("fc1", "y")].dead == []
    assert [k for k in stats] == [("x", "out"), ("fc1", "y"), ("act1", "y"), ("fc2", "y")]


def test_dead_channels_of_a_feature_map():
    c = _cnn()
    with torch.no_grad():
        c.modules.conv1.bias[[0, 5]] = -100.0
    stats = {(s.node, s.port): s for s in
             inside.activation_stats(c, {"image": torch.rand(16, 1, 8, 8)})}
    assert stats[("relu1", "y")].units == 16
    assert {0, 5} <= set(stats[("relu1", "y")].dead)


def test_a_missing_input_is_named():
    c = _cnn()
    with pytest.raises(inside.InsideError, match="no value given for the Input 'image'"):
        inside.node_outputs(c, {})
    with pytest.raises(inside.InsideError, match="'nope' is not an Output"):
        inside.saliency(c, {"image": _digit()}, "nope")
