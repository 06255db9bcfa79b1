"""The catalogue oracle's samplers for graph/catalogue/nn_cells.py: SAMPLERS[type] (spec, rnd,
params) -> (types by port, tensors by port); PARAMS[type] (spec, rnd) -> params.

Inputs mostly fit the params (so enough cases reach torch), with a misfit now and then (a
wrong rank, dtype or size, a mask of the wrong shape or kind) that the shape rule must
refuse, and size names where it must refuse them (a cell's F) or where the output does not
show them (a bag's length L). Size names that pass through to the output (a Transformer's
T) are tested in test_nn_cells.py: the oracle compares numbers."""
import torch

from graph.spec import TensorType

N = 3


def _value(shape, dtype="float32", high=4):
    """A TensorType and a tensor of it: 'N' is the batch (3), other names are 4 steps."""
    real = [N if d == "N" else 4 if isinstance(d, str) else d for d in shape]
    t = TensorType(tuple(shape), dtype)
    if dtype == "bool":
        return t, torch.rand(real) < 0.3
    if dtype == "int64":
        return t, torch.randint(0, high, real)
    return t, torch.randn(real)


def _misfit(rnd, shape):
    """Now and then another rank, dtype or size than `shape` asks for."""
    r = rnd.random()
    if r < 0.03:
        return (*shape, 2), "float32"
    if r < 0.06:
        return shape, "int64"
    if r < 0.09:
        return (*shape[:-1], shape[-1] + 1), "float32"
    return shape, "float32"


def sample_cell(spec, rnd, params):
    f = params["input_size"] or rnd.randint(1, 6)
    x, dtype = _misfit(rnd, ("N", f))
    if rnd.random() < 0.03:
        x = ("N", "F")  # a size name: the weights need a number
    types, tensors = {}, {}
    types["x"], tensors["x"] = _value(x, dtype)
    if spec.input("hx") is not None and rnd.random() < 0.5:
        h, dtype = _misfit(rnd, ("N", params["hidden_size"]))
        types["hx"], tensors["hx"] = _value(h, dtype)
    return types, tensors


def layer_params(spec, rnd):
    nhead = rnd.choice([1, 1, 2, 3, 4])
    return {"nhead": nhead, "dim_feedforward": rnd.randint(1, 16),
            "dropout": rnd.choice([0.0, 0.1, 0.5]), "activation": rnd.choice(["relu", "gelu"]),
            "layer_norm_eps": rnd.choice([1e-5, 1e-3]), "norm_first": rnd.random() < 0.5,
            "bias": rnd.random() < 0.7,
            "d_model": None if rnd.random() < 0.5 else nhead * rnd.randint(1, 3)}


def _mask_kind(rnd, kind):
    r = rnd.random()
    return kind if r < 0.9 else ("int64" if r < 0.95 else "float32" if kind == "bool" else "bool")


def sample_layer(spec, rnd, params):
    """src or tgt N × T × E (E mostly a multiple of nhead), memory N × S × E, and masks
    that mostly fit: T × T and N × T (N × T × T now and then, which fits one head only)."""
    h = params["nhead"]
    e = params["d_model"] or h * rnd.randint(1, 3)
    if rnd.random() < 0.05:
        e = rnd.randint(1, 7)  # not a multiple of nhead, or not d_model
    t, s = rnd.randint(1, 5), rnd.randint(1, 6)
    main = spec.inputs[0].name
    types, tensors = {}, {}
    shape, dtype = _misfit(rnd, ("N", t, e))
    types[main], tensors[main] = _value(shape, dtype)
    if spec.input("memory") is not None:
        m = ("N", s, e) if rnd.random() < 0.95 else ("N", s, e + 1)
        types["memory"], tensors["memory"] = _value(m)
    kind = rnd.choice(["bool", "float32"])
    for port in spec.inputs:
        if not port.optional or rnd.random() < 0.5:
            continue
        keys = s if port.name.startswith("memory") else t
        if port.name.endswith("key_padding_mask"):
            want = ("N", keys)
        else:
            want = (t, keys) if rnd.random() < 0.85 else ("N", t, keys)
        if rnd.random() < 0.05:
            want = (*want[:-1], 7)  # a key count that does not fit
        mk = _mask_kind(rnd, kind)
        tt, v = _value(want, mk, high=2)
        if mk == "float32":
            v = torch.where(torch.rand(v.shape) < 0.3, float("-inf"), 0.0)
        types[port.name], tensors[port.name] = tt, v
    return types, tensors


def bag_params(spec, rnd):
    n = rnd.randint(1, 10)
    mode = rnd.choice(["mean", "sum", "max"])
    pad = None if rnd.random() < 0.6 else rnd.randint(-n - 1, n)
    return {"num_embeddings": n, "embedding_dim": rnd.randint(1, 8), "mode": mode,
            "padding_idx": pad, "max_norm": None if rnd.random() < 0.7 else 1.0,
            "norm_type": rnd.choice([1.0, 2.0]), "scale_grad_by_freq": rnd.random() < 0.2,
            "init": rnd.choice(["default", "xavier", "he"])}


def sample_bag(spec, rnd, params):
    length = rnd.randint(1, 6) if rnd.random() < 0.9 else "L"
    shape = ("N", length)
    r = rnd.random()
    if r < 0.05:
        shape = ("N",)  # one id per sample: torch would need offsets
    elif r < 0.08:
        shape = ("N", 2, 3)
    dtype = "int64" if rnd.random() < 0.95 else "float32"
    types, tensors = {}, {}
    types["x"], tensors["x"] = _value(shape, dtype, high=params["num_embeddings"])
    if rnd.random() < 0.4:
        w = shape if rnd.random() < 0.9 else (*shape[:-1], 9)
        types["per_sample_weights"], tensors["per_sample_weights"] = _value(w)
    return types, tensors


SAMPLERS = {"RNNCell": sample_cell, "LSTMCell": sample_cell, "GRUCell": sample_cell,
            "TransformerEncoderLayer": sample_layer, "TransformerDecoderLayer": sample_layer,
            "EmbeddingBag": sample_bag}
PARAMS = {"TransformerEncoderLayer": layer_params, "TransformerDecoderLayer": layer_params,
          "EmbeddingBag": bag_params}
