"""The catalogue oracle's samplers for graph/catalogue/nn_conv.py: SAMPLERS[type] (spec, rnd,
params) -> (types by port, tensors by port); PARAMS[type] (spec, rnd) -> params."""
SAMPLERS = {}
PARAMS = {}
