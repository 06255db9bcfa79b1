"""Torch is the oracle: for every catalogue entry, over sampled params and input shapes, the
shape rule's answer equals the real output shape of the module or function it builds."""
import random

import pytest
import torch

from graph import catalogue
from graph.spec import BuildContext, Make, ShapeContext, ShapeError, TensorType
from runtime.compile import init_weights, resolve
from tests.params import sample_value

N = 3
BUILDABLE = sorted(t for t, s in catalogue.SPECS.items() if s.build is not None)


def random_shape(rnd):
    rank = rnd.choice([2, 2, 3, 4, 4])
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


def sample_inputs(spec, rnd, params=None):
    """(types by port, tensors by port) for one trial. Optional ports are wired half the
    time; token ids go into an Embedding, sequences and states into recurrent layers."""
    types, tensors = {}, {}
    params = params or {}
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
                ts.append(TensorType(tuple(s)))
            types[port.name] = ts
            tensors[port.name] = [torch.randn([N if d == "N" else d for d in t.shape]) for t in ts]
        else:
            t = TensorType(random_shape(rnd))
            if spec.type == "Reshape":
                t = TensorType(("N", 2, 3, 4))
            types[port.name] = t
            tensors[port.name] = torch.randn([N if d == "N" else d for d in t.shape])
    return types, tensors


def sample_params(spec, rnd):
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
