"""Torch is the oracle: for every catalogue entry, over sampled params and input shapes, the
shape rule's answer equals the real output shape of the module or function it builds."""
import importlib
import random

import pytest
import torch

from graph import catalogue
from graph.spec import BuildContext, Make, ShapeContext, ShapeError, TensorType
from runtime.compile import init_weights, resolve
from tests.params import sample_value

N = 3
# Input and param samplers of the torch.nn families (issue 26), by type id
FAMILY_SAMPLERS, FAMILY_PARAMS = {}, {}
for _name in ("oracle_nn_activations", "oracle_nn_conv", "oracle_nn_shape", "oracle_nn_cells",
              "oracle_nn_losses", "oracle_nn_params", "oracle_tensor_ops",
              "oracle_torch_attention"):
    _mod = importlib.import_module(f"tests.runtime.{_name}")
    FAMILY_SAMPLERS.update(getattr(_mod, "SAMPLERS", {}))
    FAMILY_PARAMS.update(getattr(_mod, "PARAMS", {}))
BUILDABLE = sorted(t for t, s in catalogue.SPECS.items() if s.build is not None)


def random_shape(rnd, ranks=(2, 2, 3, 4, 4)):
    rank = rnd.choice(ranks)
    if rank == 5:
        return ("N", rnd.randint(1, 4), *(rnd.randint(1, 7) for _ in range(3)))
    if rank == 2:
        return ("N", rnd.randint(1, 9))
    if rank == 3:
        return ("N", rnd.randint(1, 5), rnd.randint(1, 9))
    return ("N", rnd.randint(1, 4), rnd.randint(1, 12), rnd.randint(1, 12))


RECURRENT = {"RNN", "LSTM", "GRU"}
ATTENTION = {"Attention", "ScaledDotProductAttention", "MultiHeadAttention"}
TOKENS = {"PaddingMask", "TeacherForcing"}  # read token ids N × T
GAN_LOSSES = {"DiscriminatorLoss", "GeneratorLoss"}
DETECTION_LOSSES = {"BoxRegressionLoss", "MultiClassHingeLoss", "ObjectnessLoss", "MaskLoss"}
ELEMENTWISE = {"Multiply"}  # inputs that broadcast: sizes of 1 now and then, or a misfit
# The decode loop runs a decoder compile gives it: tested with whole graphs (test_decoding.py)
BUILDABLE = [t for t in BUILDABLE if catalogue.SPECS[t].role != "decode"]


def _t(shape, dtype="float32"):
    t = TensorType(shape, dtype)
    real = [N if d == "N" else d for d in shape]
    if dtype == "bool":
        return t, torch.rand(real) < 0.3
    if dtype == "int64":
        return t, torch.randint(0, 4, real)
    return t, torch.randn(real)


def sample_attention(spec, rnd, params):
    """Queries, keys, values and masks that mostly fit together (a mismatch now and then,
    which the shape rule must refuse)."""
    tq, tk = rnd.randint(1, 5), rnd.randint(1, 6)
    if spec.type == "MultiHeadAttention":
        e = params["num_heads"] * rnd.randint(1, 3) if rnd.random() < 0.85 else rnd.randint(1, 9)
    else:
        e = rnd.randint(1, 8)
    dk = e if rnd.random() < 0.8 else rnd.randint(1, 9)
    dv = rnd.randint(1, 9)
    lead = ("N",)
    if spec.type == "ScaledDotProductAttention" and rnd.random() < 0.3:
        lead = ("N", rnd.randint(1, 3))  # a heads axis
    q = (*lead, e) if spec.type == "Attention" and rnd.random() < 0.2 else (*lead, tq, e)
    ports = {"query": q, "key": (*lead, tk, dk), "value": (*lead, tk, dv)}
    if spec.type == "MultiHeadAttention" and rnd.random() < 0.5:
        ports["key"] = ("N", tk, rnd.randint(1, 9))
    types, tensors = {}, {}
    for port in spec.inputs:
        if port.name in ports:
            if port.optional and rnd.random() < 0.5:
                continue
            types[port.name], tensors[port.name] = _t(ports[port.name])
        elif rnd.random() < 0.5:
            shape = ("N", tk) if port.name == "key_padding_mask" else (
                (tq, tk) if rnd.random() < 0.7 else ("N", tq, tk))
            types[port.name], tensors[port.name] = _t(shape, "bool")
    return types, tensors


def _boxes(rnd, n, k, side=32.0):
    xy = torch.rand(n, k, 2) * side * 0.7
    return torch.cat((xy, xy + 2 + torch.rand(n, k, 2) * side * 0.3), 2)


def sample_detection(spec, rnd, params):
    """Detection values that mostly fit together: images and maps N × C × H × W, boxes
    N × K × 4, RoIs R × 5 (R concrete here, 'R' in the types), per-RoI values."""
    r, c1 = rnd.randint(1, 12), rnd.randint(2, 5)
    k = rnd.randint(1, 5)
    img = ("N", rnd.randint(1, 4), rnd.randint(8, 40), rnd.randint(8, 40))
    rois = torch.cat((torch.randint(0, N, (r, 1)).float(), _boxes(rnd, 1, r)[0]), 1)
    labels = torch.randint(0, c1, (r,))
    values = {  # port -> (type, tensor)
        "proposals": (TensorType(("N", k * 3, 4)), _boxes(rnd, N, k * 3)),
        "gt_boxes": (TensorType(("N", k, 4)), _boxes(rnd, N, k)),
        "gt_labels": (TensorType(("N", k), "int64"), torch.randint(-1, 4, (N, k))),
        "rois": (TensorType(("R", 5)), rois),
        "image": (TensorType(img), torch.rand(N, *img[1:])),
        "features": (TensorType(img), torch.randn(N, *img[1:])),
        "class_scores": (TensorType(("R", c1)), torch.randn(r, c1)),
        "deltas": (TensorType(("R", 4 * rnd.choice([1, c1]))), None),
        "x": (TensorType(("R", rnd.randint(1, 9))), None),
        "labels": (TensorType(("R",), "int64"), labels),
    }
    a = rnd.randint(1, 20)  # anchors
    rpn = {"anchors": (TensorType((a, 4)), _boxes(rnd, 1, a)[0]),
           "objectness": (TensorType(("N", a)), torch.randn(N, a)),
           "deltas": (TensorType(("N", a, 4)), torch.randn(N, a, 4) * 0.1)}
    if spec.type in ("RegionProposals", "MatchAnchors"):
        values.update(rpn)
    if spec.type == "ObjectnessLoss":
        values["pred"] = rpn["objectness"]
        values["target"] = (TensorType(("N", a), "int64"), torch.randint(-1, 2, (N, a)))
    m = N * rnd.randint(1, 4)  # the mask branch's RoIs, D per image
    size = rnd.randint(2, 8)
    mask_rois = torch.cat((torch.arange(N).repeat_interleave(m // N)[:, None].float(),
                           _boxes(rnd, 1, m)[0]), 1)
    mask_values = {
        "sampled": (TensorType(("R", 5)), rois),
        "sampled_labels": (TensorType(("R",), "int64"), labels),
        "sampled_matched": (TensorType(("R",), "int64"), torch.randint(0, N * k, (r,))),
        "det_boxes": (TensorType(("N", m // N, 4)), _boxes(rnd, N, m // N)),
        "det_labels": (TensorType(("N", m // N), "int64"), torch.randint(0, c1, (N, m // N))),
        "pred": (TensorType(("M", c1, size, size)), torch.randn(m, c1, size, size)),
        "logits": (TensorType(("M", c1, size, size)), torch.randn(m, c1, size, size)),
        "labels": (TensorType(("M",), "int64"), torch.randint(1, c1, (m,))),
        "rois": (TensorType(("M", 5)), mask_rois),
        "matched": (TensorType(("M",), "int64"), torch.randint(0, N * k, (m,))),
        "gt_masks": (TensorType(("N", k, *img[2:])), (torch.rand(N, k, *img[2:]) < 0.5).float()),
    }
    if spec.type in ("MaskRoIs", "MaskLoss", "PasteMasks"):
        values.update(mask_values)
    if spec.type in ("ObjectnessLoss", "MaskLoss"):
        pass
    elif spec.role == "loss":
        if spec.type == "MultiClassHingeLoss":
            values["pred"] = (TensorType(("R", c1)), torch.randn(r, c1))
            values["target"] = (TensorType(("R",), "int64"), labels)
        else:
            values["pred"] = (TensorType(("R", 4 * c1)), None)
            values["target"] = (TensorType(("R", 4)), torch.randn(r, 4))
    types, tensors = {}, {}
    for port in spec.inputs:
        t, v = values[port.name]
        if rnd.random() < 0.05:  # now and then a misfit, which the rule must refuse
            t = TensorType(random_shape(rnd))
            v = torch.randn([N if d == "N" else d for d in t.shape])
        types[port.name] = t
        real = [N if d == "N" else r if d == "R" else m if d == "M" else d for d in t.shape]
        tensors[port.name] = v if v is not None and list(v.shape) == real else torch.randn(real)
    return types, tensors


def ranks_of(spec) -> tuple[int, ...]:
    """The ranks a random input takes: a '1d' layer reads N × C × L (or C × L), a '3d' one
    N × C × D × H × W, the rest ranks 2 to 4."""
    if spec.type.endswith("1d"):
        return (2, 3, 3, 3)
    if spec.type.endswith("3d"):
        return (4, 5, 5, 5)
    return (2, 2, 3, 4, 4)


def sample_inputs(spec, rnd, params=None):
    """(types by port, tensors by port) for one trial. Optional ports are wired half the
    time; token ids go into an Embedding, sequences and states into recurrent layers. A
    family module's own samplers (tests/runtime/oracle_*.py, SAMPLERS) come first."""
    types, tensors = {}, {}
    params = params or {}
    if spec.type in FAMILY_SAMPLERS:
        return FAMILY_SAMPLERS[spec.type](spec, rnd, params)
    if spec.type == "Embedding":
        shape = ("N", rnd.randint(1, 7)) if rnd.random() < 0.8 else ("N",)
        types["x"] = TensorType(shape, "int64")
        tensors["x"] = torch.randint(0, params["num_embeddings"], [N, *shape[1:]])
        return types, tensors
    if spec.type in ATTENTION:
        return sample_attention(spec, rnd, params)
    if spec.category == "Detection" or spec.type in DETECTION_LOSSES:
        return sample_detection(spec, rnd, params)
    if spec.type in TOKENS:
        port = spec.inputs[0].name
        types[port], tensors[port] = _t(("N", rnd.randint(1, 7)), "int64")
        return types, tensors
    if spec.type in RECURRENT:
        t = TensorType(("N", rnd.randint(1, 6), rnd.randint(1, 5)))
        types["x"], tensors["x"] = t, torch.randn(N, *t.shape[1:])
        d = 2 if params["bidirectional"] else 1
        state = ("N", params["num_layers"] * d, params["hidden_size"])
        for port in spec.inputs[1:]:
            if rnd.random() < 0.5:
                types[port.name] = TensorType(state)
                tensors[port.name] = torch.randn(N, *state[1:])
        return types, tensors
    if spec.type in GAN_LOSSES:  # the discriminator's scores N × 1 (now and then not)
        for port in spec.inputs:
            shape = ("N", 1) if rnd.random() < 0.8 else random_shape(rnd)
            types[port.name], tensors[port.name] = _t(shape)
        return types, tensors
    if spec.role == "loss":
        pred = random_shape(rnd)
        tp = TensorType(pred)
        r = rnd.random()
        classes = pred[1]
        if r < 0.4:
            tt = TensorType(pred)
        elif r < 0.6 and len(pred) > 1:
            tt = TensorType((pred[0], *pred[2:]), "int64")
        elif r < 0.8 and len(pred) == 3:  # a distribution per time step: N × T × V vs N × T
            tt, classes = TensorType(pred[:-1], "int64"), pred[-1]
        else:
            tt = TensorType(random_shape(rnd))
        for port, t in (("pred", tp), ("target", tt)):
            types[port] = t
            shape = [N if d == "N" else d for d in t.shape]
            if t.dtype == "int64":
                tensors[port] = torch.randint(0, classes, shape)
            elif port == "pred":
                tensors[port] = torch.rand(shape) * 0.98 + 0.01  # probabilities for BCE / CCE
            else:
                tensors[port] = torch.rand(shape).round()
        return types, tensors
    for port in spec.inputs:
        if port.multi:
            base = list(random_shape(rnd))
            ts = []
            for _ in range(rnd.randint(2, 3)):
                s = list(base)
                if spec.type == "Concat" and rnd.random() < 0.5:
                    s[1] = rnd.randint(1, 5)
                if spec.type in ELEMENTWISE:
                    for i in range(1, len(s)):
                        r = rnd.random()
                        s[i] = 1 if r < 0.3 else rnd.randint(1, 5) if r < 0.35 else s[i]
                ts.append(TensorType(tuple(s)))
            types[port.name] = ts
            tensors[port.name] = [torch.randn([N if d == "N" else d for d in t.shape]) for t in ts]
        else:
            t = TensorType(random_shape(rnd, ranks_of(spec)))
            if spec.type == "Reshape":
                t = TensorType(("N", 2, 3, 4))
            types[port.name] = t
            tensors[port.name] = torch.randn([N if d == "N" else d for d in t.shape])
    return types, tensors


def sample_params(spec, rnd):
    if spec.type in FAMILY_PARAMS:
        return spec.resolved(FAMILY_PARAMS[spec.type](spec, rnd))
    params = spec.resolved({p.name: sample_value(p, rnd) for p in spec.params})
    if spec.type == "Reshape":
        params["shape"] = rnd.choice([[24], [-1], [4, 6], [2, -1, 3], [6, 2, 2], [1, 24]])
    if spec.type == "TimeStep":
        params["index"] = rnd.choice([-1, 0, 1, -2, 2])
    if spec.type == "TimeSlice":
        params["start"], params["stop"] = rnd.choice([0, 1, -2]), rnd.choice([None, 2, -1, 3])
    return params


@pytest.mark.parametrize("type_id", BUILDABLE)
def test_inferred_shape_equals_real_shape(type_id):
    spec = catalogue.get(type_id)
    rnd = random.Random(type_id)
    torch.manual_seed(0)
    accepted = 0
    for _ in range(300):
        params = sample_params(spec, rnd)
        types, tensors = sample_inputs(spec, rnd, params)
        if any(p.check(params[p.name]) for p in spec.params):
            continue
        srcs = {k: "src" for k in types}
        try:
            outs = spec.shape(ShapeContext("n", params, types, srcs))
        except ShapeError:
            continue
        plan = spec.build(BuildContext("n", params, types, outs))
        # Passed as compile passes them: optional (and by-name) ports as keywords, left out
        # when not wired.
        args = [tensors[p.name] for p in spec.inputs if not (p.optional or p.by_name)]
        kwargs = {p.name: tensors[p.name] for p in spec.inputs
                  if (p.optional or p.by_name) and p.name in tensors}
        if isinstance(plan, Make):
            module = resolve(plan.target)(**plan.kwargs)
            init_weights(module, plan.init)
            module.eval()
            result = module(*args, **kwargs)
        else:
            result = resolve(plan.target)(*args, **kwargs, **plan.kwargs)
        assert set(outs) == {p.name for p in spec.outputs}, (type_id, outs)
        for i, port in enumerate(spec.outputs):  # every output port, by its path
            real = result
            if len(spec.outputs) > 1:
                for index in port.path or (i,):
                    real = real[index]
            # 'R': the RoIs of the batch, as many as came in (a sample of them: any number)
            rois = tensors["rois"].shape[0] if "rois" in tensors else (
                real.shape[0] if real.dim() else None)
            # 'M', 'P', 'D': a mask branch's RoIs, proposals, detections per image: any
            want = tuple(N if d == "N" else rois if d == "R" else real.shape[i]
                         if d in ("M", "P", "D") else d
                         for i, d in enumerate(outs[port.name].shape))
            assert tuple(real.shape) == want, (type_id, port.name, params, types)
            if outs[port.name].dtype == "float32":
                assert real.dtype == torch.float32
        accepted += 1
        if accepted >= 25:
            break
    assert accepted >= 10, f"{type_id}: only {accepted} sampled cases were accepted"


@pytest.mark.parametrize("scheme, check", [
    ("he", lambda w, fan_in: abs(w.std().item() - (2 / fan_in) ** 0.5) < 0.1 * (2 / fan_in) ** 0.5),
    ("xavier", lambda w, fan_in: abs(w.std().item() - (2 / (fan_in + 256)) ** 0.5) < 0.01),
])
def test_weight_init_schemes(scheme, check):
    torch.manual_seed(0)
    m = torch.nn.Linear(512, 256)
    init_weights(m, scheme)
    assert check(m.weight, 512)
    assert torch.count_nonzero(m.bias) == 0


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_compiles_to_torch_gelu_and_its_hand_values(approximate):
    """GELU through compile gives torch's F.gelu with the chosen approximation, and the hand
    values: GELU(1) = Φ(1) = 0.841345 exact (0.841192 by the tanh formula), GELU(0) = 0, and
    its dip below zero near x = −0.75 (not monotonic)."""
    import math

    import torch.nn.functional as F

    from graph.model import Graph
    from runtime.compile import compile_graph
    g = Graph()
    g.add_node("Input", "x", {"shape": [5]})
    g.add_node("GELU", "gelu", {"approximate": approximate})
    g.add_node("Output", "out")
    g.connect("x", "out", "gelu", "x")
    g.connect("gelu", "y", "out", "x")
    model = compile_graph(g).model
    x = torch.randn(64, 5) * 3
    assert torch.equal(model(x), F.gelu(x, approximate=approximate))
    got = model(torch.tensor([[1.0, 0.0, -0.75, -3.0, 2.0]]))[0].tolist()

    def hand(v):
        if approximate == "none":
            return v * 0.5 * (1 + math.erf(v / math.sqrt(2)))  # x·Φ(x)
        return 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)))
    want = [hand(v) for v in (1.0, 0.0, -0.75, -3.0, 2.0)]
    assert got == pytest.approx(want, abs=1e-6)
    assert got[0] == pytest.approx(0.8413447 if approximate == "none" else 0.8411920, abs=1e-6)
    assert got[2] < got[3] < 0  # dips below zero, then back towards 0: not monotonic


def _one_node_model(type_, shapes, params=None):
    """Inputs of `shapes` (one sample's) into one node of `type_`, its output the model's."""
    from graph.model import Graph
    from runtime.compile import compile_graph
    g = Graph()
    g.add_node(type_, "n", params or {})
    port = catalogue.get(type_).inputs[0].name
    for i, shape in enumerate(shapes):
        g.add_node("Input", f"x{i}", {"shape": list(shape)})
        g.connect(f"x{i}", "out", "n", port)
    g.add_node("Output", "out")
    g.connect("n", "y", "out", "x")
    return compile_graph(g).model


def test_multiply_is_torchs_product_with_broadcasting_and_its_hand_value():
    """Multiply through compile gives torch's x₁ * x₂ * x₃ (a gate N × C × 1 × 1 scales whole
    feature maps), and [1, 2, 3] ⊙ [0.5, 0, 2] = [0.5, 0, 6] by hand."""
    torch.manual_seed(0)
    model = _one_node_model("Multiply", [(2, 3, 4), (2, 1, 1), (1, 3, 4)])
    a, b, c = torch.randn(5, 2, 3, 4), torch.rand(5, 2, 1, 1), torch.randn(5, 1, 3, 4)
    assert torch.equal(model(a, b, c), torch.mul(torch.mul(a, b), c))
    model = _one_node_model("Multiply", [(3,), (3,)])
    got = model(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[0.5, 0.0, 2.0]]))
    assert got.tolist() == [[0.5, 0.0, 6.0]]


def test_one_minus_is_torchs_rsub_and_its_hand_value():
    torch.manual_seed(0)
    model = _one_node_model("OneMinus", [(4, 5)])
    x = torch.randn(6, 4, 5)
    assert torch.equal(model(x), torch.rsub(x, 1))
    assert model(torch.tensor([[0.25, 1.0, -2.0]])).tolist() == [[0.75, 0.0, 3.0]]


def test_global_avg_pool_is_torchs_adaptive_pool_and_its_hand_value():
    """N × C × H × W → N × C: torch's adaptive average pooling to 1 × 1, flattened; the
    2 × 2 map [[1, 2], [3, 6]] averages to 3."""
    import torch.nn.functional as F
    torch.manual_seed(0)
    model = _one_node_model("GlobalAvgPool2d", [(3, 5, 7)])
    x = torch.randn(4, 3, 5, 7)
    got = model(x)
    assert got.shape == (4, 3)
    assert torch.allclose(got, F.adaptive_avg_pool2d(x, 1).flatten(1), atol=1e-6)
    x = torch.tensor([[[[1.0, 2.0], [3.0, 6.0]], [[0.0, 0.0], [-1.0, 1.0]]]])
    assert _one_node_model("GlobalAvgPool2d", [(2, 2, 2)])(x).tolist() == [[3.0, 0.0]]


def test_a_gate_built_gru_cell_is_torchs_gru_cell():
    """The GRU's update from nodes: r, z = σ(Linear(x) + Linear(h)), n = tanh(Linear(x) +
    r ⊙ Linear(h)), h′ = (1 − z) ⊙ n + z ⊙ h, with nn.GRUCell's weights, gives its h′."""
    from graph.model import Graph
    from runtime.compile import compile_graph
    F_, H = 3, 4
    g = Graph()
    g.add_node("Input", "x", {"shape": [F_]})
    g.add_node("Input", "h", {"shape": [H]})

    def node(type_, nid, *srcs, **params):
        g.add_node(type_, nid, params)
        for s in srcs:
            g.connect(s, "out" if s in ("x", "h") else "y", nid, "x")
        return nid
    for gate in "rzn":
        node("Linear", f"x{gate}", "x", out_features=H)
        node("Linear", f"h{gate}", "h", out_features=H)
    node("Sigmoid", "r", node("Add", "r_sum", "xr", "hr"))
    node("Sigmoid", "z", node("Add", "z_sum", "xz", "hz"))
    node("Tanh", "n", node("Add", "n_sum", "xn", node("Multiply", "r_hn", "r", "hn")))
    keep_n = node("Multiply", "keep_n", node("OneMinus", "one_minus_z", "z"), "n")
    node("Add", "h_next", keep_n, node("Multiply", "keep_h", "z", "h"))
    g.add_node("Output", "out")
    g.connect("h_next", "y", "out", "x")
    model = compile_graph(g).model
    torch.manual_seed(0)
    cell = torch.nn.GRUCell(F_, H)
    with torch.no_grad():  # torch's rows: r, z, n
        for i, gate in enumerate("rzn"):
            rows = slice(i * H, (i + 1) * H)
            for side, w, b in (("x", cell.weight_ih, cell.bias_ih),
                               ("h", cell.weight_hh, cell.bias_hh)):
                getattr(model, f"{side}{gate}").weight.copy_(w[rows])
                getattr(model, f"{side}{gate}").bias.copy_(b[rows])
        x, h = torch.randn(6, F_), torch.randn(6, H)
        assert torch.allclose(model(x, h), cell(x, h), atol=1e-6)


@pytest.mark.parametrize("type_, shapes, dtype, port, words", [
    ("Multiply", [(3, 4), (2, 4)], "float32", "x", "cannot multiply N × 3 × 4 and N × 2 × 4"),
    ("Multiply", [(3,)], "float32", "x", "needs at least two inputs on port 'x', it has 1"),
    ("Multiply", [(3,), (3,)], "int64", "x", "needs real numbers (float32) on port 'x'"),
    ("OneMinus", [(3,)], "int64", "x", "needs real numbers (float32) but 'x0' gives int64"),
    ("GlobalAvgPool2d", [(3, 4)], "float32", "x",
     "needs an image-shaped input N × C × H × W but 'x0' gives N × 3 × 4"),
    ("GlobalAvgPool2d", [(1, 4, 4)], "int64", "x", "needs real numbers (float32)"),
])
def test_shape_rules_refuse_bad_inputs_naming_the_port(type_, shapes, dtype, port, words):
    from graph.analysis import analyse
    from graph.model import Graph
    g = Graph()
    g.add_node(type_, "n")
    for i, shape in enumerate(shapes):
        g.add_node("Input", f"x{i}", {"shape": list(shape), "dtype": dtype})
        g.connect(f"x{i}", "out", "n", "x")
    g.add_node("Output", "out")
    g.connect("n", "y", "out", "x")
    [issue] = [i for i in analyse(g).errors if i.node == "n"]
    assert issue.port == port
    assert words in issue.message, issue.message
