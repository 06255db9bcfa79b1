"""The catalogue oracle's samplers for graph/catalogue/losses.py (the new losses): SAMPLERS[type] (spec, rnd,
params) -> (types by port, tensors by port); PARAMS[type] (spec, rnd) -> params."""
SAMPLERS = {}
PARAMS = {}
