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


def sample_inputs(spec, rnd):
    """(types by port, tensors by port) for one trial."""
    types, tensors = {}, {}
    if spec.role == "loss":
        pred = random_shape(rnd)
        tp = TensorType(pred)
        r = rnd.random()
        if r < 0.4:
            tt = TensorType(pred)
        elif r < 0.7 and len(pred) > 1:
            tt = TensorType((pred[0], *pred[2:]), "int64")
        else:
            tt = TensorType(random_shape(rnd))
        for port, t in (("pred", tp), ("target", tt)):
            types[port] = t
            shape = [N if d == "N" else d for d in t.shape]
            if t.dtype == "int64":
                tensors[port] = torch.randint(0, pred[1], shape)
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
    return params


@pytest.mark.parametrize("type_id", BUILDABLE)
def test_inferred_shape_equals_real_shape(type_id):
    spec = catalogue.get(type_id)
    rnd = random.Random(type_id)
    torch.manual_seed(0)
    accepted = 0
    for _ in range(300):
        types, tensors = sample_inputs(spec, rnd)
        params = sample_params(spec, rnd)
        if any(p.check(params[p.name]) for p in spec.params):
            continue
        srcs = {k: "src" for k in types}
        try:
            outs = spec.shape(ShapeContext("n", params, types, srcs))
        except ShapeError:
            continue
        plan = spec.build(BuildContext("n", params, types, outs))
        args = [tensors[p.name] for p in spec.inputs]
        if isinstance(plan, Make):
            module = resolve(plan.target)(**plan.kwargs)
            init_weights(module, plan.init)
            module.eval()
            result = module(*args)
        else:
            result = resolve(plan.target)(*args, **plan.kwargs)
        results = result if isinstance(result, tuple) else (result,)
        for port, real in zip(spec.outputs, results):
            want = tuple(N if d == "N" else d for d in outs[port.name].shape)
            assert tuple(real.shape) == want, (type_id, params, types)
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
