"""The catalogue oracle's samplers for graph/catalogue/torch_attention.py: torch's scaled
dot-product attention (Q, K, V with or without heads axes, a bool or float mask that mostly
broadcasts) and Where with a constant. A misfit now and then, which the shape rule must
refuse."""
import torch

from graph.spec import TensorType

N = 3


def _value(shape, dtype="float32"):
    real = [N if d == "N" else d for d in shape]
    if dtype == "bool":
        return TensorType(tuple(shape), dtype), torch.rand(real) < 0.7
    return TensorType(tuple(shape), dtype), torch.randn(real)


def sample_sdpa(spec, rnd, params):
    heads = rnd.choice([(), (2,), (1,), (2, 3)])
    L, S, E, Ev = (rnd.randint(1, 5) for _ in range(4))
    e_k = E if rnd.random() < 0.9 else E + 1
    s_v = S if rnd.random() < 0.9 else S + 1
    shapes = {"query": ("N", *heads, L, E), "key": ("N", *heads, S, e_k),
              "value": ("N", *heads, s_v, Ev)}
    types, tensors = {}, {}
    for port, s in shapes.items():
        types[port], tensors[port] = _value(s)
    if rnd.random() < 0.5:
        m = rnd.choice([(L, S), (1, S), ("N", *(1 for _ in heads), 1, S), (L, S + 1),
                        ("N", *heads, L, S)])
        types["attn_mask"], tensors["attn_mask"] = _value(
            m, "bool" if rnd.random() < 0.6 else "float32")
        if types["attn_mask"].dtype == "bool":
            tensors["attn_mask"][..., 0] = True  # every query sees a key: no NaN rows
    return types, tensors


def sdpa_params(spec, rnd):
    return {"is_causal": rnd.random() < 0.3, "scale": rnd.choice([None, None, 0.5, 2.0]),
            "dropout_p": 0.0}


def sample_where_scalar(spec, rnd, params):
    x = ("N", *(rnd.randint(1, 4) for _ in range(rnd.randint(1, 3))))
    c = list(x)
    for i in range(1, len(c)):
        c[i] = 1 if rnd.random() < 0.3 else rnd.randint(2, 5) if rnd.random() < 0.05 else c[i]
    types, tensors = {}, {}
    types["cond"], tensors["cond"] = _value(tuple(c), "bool" if rnd.random() < 0.9
                                            else "float32")
    types["x"], tensors["x"] = _value(x)
    return types, tensors


def where_scalar_params(spec, rnd):
    return {"other": rnd.choice([0.0, -1e9, 2.5, -3.4e38])}


SAMPLERS = {"TorchScaledDotProductAttention": sample_sdpa, "WhereScalar": sample_where_scalar}
PARAMS = {"TorchScaledDotProductAttention": sdpa_params, "WhereScalar": where_scalar_params}
