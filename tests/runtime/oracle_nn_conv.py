"""The catalogue oracle's samplers for graph/catalogue/nn_conv.py (and the 2-d members in
conv.py): SAMPLERS[type] (spec, rnd, params) -> (types by port, tensors by port);
PARAMS[type] (spec, rnd) -> params. Inputs are mostly N × C × (1, 2 or 3 spatial sizes) of
real numbers, now and then of the wrong rank or dtype; params mostly fit together (groups
dividing the channels, small dilations), now and then not, which the rules must refuse."""
import torch

from graph.spec import TensorType

N = 3
DIMS = {"Conv1d": 1, "Conv2d": 2, "Conv3d": 3, "ConvTranspose1d": 1, "ConvTranspose2d": 2,
        "ConvTranspose3d": 3, "MaxPool1d": 1, "MaxPool2d": 2, "MaxPool3d": 3, "AvgPool1d": 1,
        "AvgPool2d": 2, "AvgPool3d": 3, "AdaptiveAvgPool1d": 1, "AdaptiveAvgPool2d": 2,
        "AdaptiveAvgPool3d": 3, "AdaptiveMaxPool1d": 1, "AdaptiveMaxPool2d": 2,
        "AdaptiveMaxPool3d": 3, "LPPool1d": 1, "LPPool2d": 2, "LPPool3d": 3,
        "FractionalMaxPool2d": 2, "FractionalMaxPool3d": 3}


def spatial_input(spec, rnd, params):
    """x: N × C × sizes (C often a multiple of the groups), a wrong rank or int64 now and
    then."""
    dims = DIMS[spec.type]
    if rnd.random() < 0.08:  # a misfit rank
        dims += rnd.choice([-1, 1])
    groups = params.get("groups", 1) if rnd.random() < 0.9 else 1
    c = groups * rnd.randint(1, 3) if isinstance(groups, int) and groups < 9 else rnd.randint(1, 4)
    top = {1: 12, 2: 9, 3: 6}.get(dims, 4)
    if spec.type.startswith("Fractional"):  # O + F − 1 (O + F in 3-d) must fit
        top += 3
    shape = ("N", c, *(rnd.randint(1, top) for _ in range(max(dims, 0))))
    real = [N, *shape[1:]]
    if rnd.random() < 0.05:
        return {"x": TensorType(shape, "int64")}, {"x": torch.randint(0, 4, real)}
    return {"x": TensorType(shape)}, {"x": torch.randn(real)}


def _common(spec):
    return {p.name: p.default for p in spec.params}


def conv_params(spec, rnd):
    p = _common(spec)
    groups = rnd.choice([1, 1, 1, 2, 3, 4])
    p.update(kernel_size=rnd.randint(1, 4), stride=rnd.choice([1, 1, 2, 3]),
             dilation=rnd.choice([1, 1, 2, 3]), groups=groups,
             out_channels=groups * rnd.randint(1, 3) if rnd.random() < 0.9 else rnd.randint(1, 5),
             bias=rnd.random() < 0.5, init=rnd.choice(["default", "xavier", "he"]))
    if rnd.random() < 0.15:
        p["in_channels"] = rnd.randint(1, 6)
    if "padding_mode" in p:  # Conv
        p["padding"] = rnd.choice(["valid", "same", 0, 1, 2])
        p["padding_mode"] = rnd.choice(["zeros", "zeros", "reflect", "replicate", "circular"])
    else:  # ConvTranspose
        p["padding"] = rnd.choice([0, 0, 1, 2])
        p["output_padding"] = rnd.choice([0, 0, 1, 2])
    return p


def pool_params(spec, rnd):
    p = _common(spec)
    f = rnd.randint(1, 4)
    p.update(kernel_size=f, stride=rnd.choice([None, None, 1, 2, 3]))
    if "padding" in p:
        p["padding"] = rnd.choice([0, 0, f // 2, rnd.randint(0, 2)])
    if "dilation" in p:
        p["dilation"] = rnd.choice([1, 1, 2, 3])
    if "ceil_mode" in p:
        p["ceil_mode"] = rnd.random() < 0.5
    if "count_include_pad" in p:
        p["count_include_pad"] = rnd.random() < 0.5
    if "norm_type" in p:
        p["norm_type"] = rnd.choice([1.0, 2.0, 2.0, 3.0])
    return p


def sizes_params(spec, rnd):
    """output_size: one size for all axes or one per axis, a wrong count or a 0 now and
    then; kernel_size for the fractional pools."""
    p = _common(spec)
    dims = DIMS[spec.type]
    count = rnd.choice([1, dims, dims, dims + 1 if rnd.random() < 0.3 else dims])
    p["output_size"] = [rnd.randint(0 if rnd.random() < 0.05 else 1, 5) for _ in range(count)]
    if "kernel_size" in p:
        p["kernel_size"] = rnd.randint(1, 3)
    return p


SAMPLERS = {t: spatial_input for t in DIMS}
PARAMS = {}
for _t in DIMS:
    if _t.startswith(("Conv", "ConvTranspose")):
        PARAMS[_t] = conv_params
    elif _t.startswith(("Adaptive", "Fractional")):
        PARAMS[_t] = sizes_params
    else:
        PARAMS[_t] = pool_params
