"""Inside the network, for learners (issue 28, item 2): what a trained model computes on the
way from a sample to its answer. No Qt here: app/try_inside.py draws what this returns.

    o = node_outputs(c, {"image": x})              # (node, port) -> that wire's value
    s = saliency(c, {"image": x}, "probs")         # d class score / d input
    g = grad_cam(c, {"image": x}, "probs")         # where the last convolution looked
    f = first_filters(c)                           # the first convolution's weights
    st = activation_stats(c, {"image": batch})     # mean, std and dead units per wire

Every value is read off the compiled `model` GraphModule (runtime/compile.py) by an fx
Interpreter, so a node's output is the very tensor the model computed, keyed by the graph's
node id and output port. The class score is the Output's value at the class; where the
Output's producer gives probabilities (a softmax: NodeSpec.gives), the score is taken before
it, at the logit, as Grad-CAM's authors do (a probability's gradient vanishes when the model
is sure)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from graph.spec import Make, OutputKind

from .compile import Compiled

# Outputs with a hard floor at zero: a unit of one "fires" when it is above zero
RELU_MODULES = (nn.ReLU, nn.ReLU6)
RELU_FUNCTIONS = (torch.relu, F.relu, torch.relu_, F.relu6)
CONVOLUTIONS = (nn.Conv2d,)

Key = tuple[str, str]  # (node id, output port)


class InsideError(Exception):
    """Why the inside of this model cannot be shown (no image input, no convolution): one
    message, said in the panel."""


class _Recorder(fx.Interpreter):
    """Runs a GraphModule and keeps every fx node's value (gradients flow through)."""

    def __init__(self, gm: fx.GraphModule):
        super().__init__(gm, garbage_collect_values=False)
        self.values: dict[str, object] = {}

    def run_node(self, n: fx.Node):
        v = super().run_node(n)
        self.values[n.name] = v
        return v


def _fx_name(name: str) -> str:
    name = re.sub(r"[^0-9a-zA-Z_]+", "_", name) or "_unnamed"
    return f"_{name}" if name[0].isdigit() else name


def wire_nodes(c: Compiled) -> dict[Key, str]:
    """(node id, output port) -> the name of the fx node of `c.model` holding its value. An
    Input's value is its standardiser's output where it has one (what the wire carries)."""
    gm, g = c.model, c.graph
    by_name = {n.name: n for n in gm.graph.nodes}
    by_module = {n.target: n.name for n in gm.graph.nodes if n.op == "call_module"}
    placeholders = [n.name for n in gm.graph.nodes if n.op == "placeholder"]
    found: dict[Key, str] = {}
    for node, ph in zip(c.inputs, placeholders):
        value = c.standardizers.get(node)
        found[(node, g.spec(node).value_port)] = by_module.get(value, ph) if value else ph
    for n in c.analysis.order:
        spec = g.spec(n)
        if n in c.inputs or not spec.outputs:
            continue
        plan = c.plans.get(n)
        single = len(spec.outputs) == 1
        for port in spec.outputs:
            if single and isinstance(plan, Make) and g.module_path(n) in by_module:
                found[(n, port.name)] = by_module[g.module_path(n)]
                continue
            base = _fx_name(n if single else f"{n}_{port.name}")
            for name in (base, f"{base}_1"):  # fx renames a builtin's name (input -> input_1)
                fxn = by_name.get(name)
                if fxn is not None and fxn.op == "call_function":
                    found[(n, port.name)] = name
                    break
    return found


def _batched(c: Compiled, inputs: dict[str, torch.Tensor], batch: bool) -> list[torch.Tensor]:
    missing = [n for n in c.inputs if n not in inputs]
    if missing:
        raise InsideError(f"no value given for the Input '{missing[0]}'")
    return [inputs[n] if batch else inputs[n].unsqueeze(0) for n in c.inputs]


def _run(c: Compiled, args: list[torch.Tensor]) -> dict[Key, object]:
    rec = _Recorder(c.model)
    rec.run(*args)
    return {k: rec.values[name] for k, name in wire_nodes(c).items() if name in rec.values}


@torch.no_grad()
def node_outputs(c: Compiled, inputs: dict[str, torch.Tensor]) -> dict[Key, torch.Tensor]:
    """Each wire's value for one sample (Input node -> its value, no batch dimension), by
    (node id, output port), without the batch dimension. Values that are no tensor (a
    recurrent layer's state tuple) are left out."""
    was = c.model.training
    c.model.eval()
    try:
        out = _run(c, _batched(c, inputs, batch=False))
    finally:
        c.model.train(was)
    return {k: v[0].detach() for k, v in out.items()
            if isinstance(v, torch.Tensor) and v.dim() >= 1 and len(v) == 1}


def score_wire(c: Compiled, output: str) -> Key:
    """The wire whose value is the class scores of Output `output`: what feeds it, or where
    that is a probability layer of one input (a softmax), what feeds that: the logits."""
    g = c.graph
    if output not in c.outputs:
        raise InsideError(f"'{output}' is not an Output of the model")
    e = g.in_edges(output)[0]
    spec = g.spec(e.src)
    ins = g.in_edges(e.src)
    if spec.gives == OutputKind.PROBABILITIES and len(ins) == 1:
        return ins[0].src, ins[0].src_port
    return e.src, e.src_port


@dataclass
class Saliency:
    cls: int  # the class whose score was differentiated
    score: float  # its score (a logit where the Output gives probabilities)
    gradient: torch.Tensor  # d score / d input, the input's own shape (no batch)
    map: torch.Tensor  # H × W: the largest |gradient| over the channels (image inputs)


@dataclass
class GradCam:
    cls: int
    layer: str  # the convolution's node id
    cam: torch.Tensor  # h × w at the convolution: ReLU(Σ_k α_k A_k)
    alpha: torch.Tensor  # k: the mean over space of d score / d A_k
    map: torch.Tensor  # H × W: cam upsampled (bilinear) to the input, scaled to [0, 1]


def _image_input(c: Compiled, inputs: dict[str, torch.Tensor], node: str | None) -> str:
    if node is None:
        node = next((n for n in c.inputs if inputs[n].is_floating_point()), None)
    if node is None:
        raise InsideError("the model has no Input of float values to take a gradient of")
    return node


def _scores(c: Compiled, inputs, output: str, cls: int | None, node: str | None):
    """Forward with the input requiring a gradient: (input node, x, class, score, values)."""
    node = _image_input(c, inputs, node)
    x = inputs[node].detach().float().unsqueeze(0).requires_grad_(True)
    args = [x if n == node else inputs[n].unsqueeze(0) for n in c.inputs]
    was = c.model.training
    c.model.eval()
    try:
        with torch.enable_grad():
            values = _run(c, args)
    finally:
        c.model.train(was)
    key = score_wire(c, output)
    if key not in values:
        raise InsideError(f"the class scores feeding '{output}' were not computed")
    s = values[key].reshape(1, -1)
    if cls is None:
        cls = int(s[0].argmax())
    if not 0 <= cls < s.shape[1]:
        raise InsideError(f"class {cls} is not among the {s.shape[1]} scores of '{output}'")
    return node, x, cls, s[0, cls], values


def saliency(c: Compiled, inputs: dict[str, torch.Tensor], output: str, cls: int | None = None,
             node: str | None = None) -> Saliency:
    """The gradient of class `cls`'s score (the predicted class when None) with respect to
    Input `node` (the first float Input when None), by plain autograd."""
    node, x, cls, score, _ = _scores(c, inputs, output, cls, node)
    grad, = torch.autograd.grad(score, x)
    g = grad[0]
    m = g.abs().amax(0) if g.dim() == 3 else g.abs().reshape(1, -1)
    return Saliency(cls, float(score.detach()), g.detach(), m.detach())


def last_convolution(c: Compiled) -> str:
    """The model's last 2-D convolution (in forward order) that the model computes."""
    wires = wire_nodes(c)
    convs = [n for n in c.analysis.order if isinstance(c.module(n), CONVOLUTIONS)
             and any(k[0] == n for k in wires)]
    if not convs:
        raise InsideError("Grad-CAM needs a 2-D convolution in the model; this one has none")
    return convs[-1]


def grad_cam(c: Compiled, inputs: dict[str, torch.Tensor], output: str, cls: int | None = None,
             node: str | None = None, layer: str | None = None) -> GradCam:
    """Grad-CAM at the last convolution (or `layer`): its feature maps A_k weighted by
    α_k = mean over space of d score / d A_k, summed, through a ReLU, upsampled to the
    input's H × W and scaled to [0, 1] (all zero stays zero)."""
    layer = layer or last_convolution(c)
    node, x, cls, score, values = _scores(c, inputs, output, cls, node)
    key = next((k for k in values if k[0] == layer), None)
    if key is None:
        raise InsideError(f"the convolution '{layer}' was not computed")
    a = values[key]
    grad, = torch.autograd.grad(score, a)
    alpha = grad[0].mean((1, 2))
    cam = torch.relu((alpha[:, None, None] * a[0]).sum(0)).detach()
    size = tuple(x.shape[-2:]) if x.dim() == 4 else tuple(cam.shape)
    up = F.interpolate(cam[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
    top = float(up.max())
    return GradCam(cls, layer, cam, alpha.detach(), up / top if top > 0 else up)


@dataclass
class Filters:
    layer: str
    weight: torch.Tensor  # out × in × kh × kw, as trained

    def images(self) -> torch.Tensor:
        """Each filter as a picture in [0, 1]: out × C × kh × kw (C = 3 for an RGB input,
        else 1: the mean over the input channels), each scaled to its own range."""
        w = self.weight.detach().float()
        w = w if w.shape[1] == 3 else w.mean(1, keepdim=True)
        lo = w.amin((1, 2, 3), keepdim=True)
        span = w.amax((1, 2, 3), keepdim=True) - lo
        return torch.where(span > 0, (w - lo) / span.clamp_min(1e-12), torch.full_like(w, .5))


def first_filters(c: Compiled) -> Filters:
    """The first 2-D convolution's filters."""
    for n in c.analysis.order:
        m = c.module(n)
        if isinstance(m, CONVOLUTIONS):
            return Filters(n, m.weight.detach().clone())
    raise InsideError("the model has no 2-D convolution whose filters could be drawn")


@dataclass
class WireStats:
    node: str
    port: str
    shape: tuple  # one sample's
    mean: float
    std: float
    relu_like: bool  # whether its units have a hard floor at zero (ReLU)
    units: int  # features of a vector, channels of a feature map
    dead: list[int] = field(default_factory=list)  # units zero for every sample (ReLU-like)

    @property
    def dead_share(self) -> float:
        return len(self.dead) / self.units if self.units else 0.0


def _relu_like(c: Compiled, fx_name: str) -> bool:
    n = next(x for x in c.model.graph.nodes if x.name == fx_name)
    if n.op == "call_module":
        return isinstance(c.model.get_submodule(n.target), RELU_MODULES)
    return n.op == "call_function" and n.target in RELU_FUNCTIONS


def relu_wires(c: Compiled) -> list[Key]:
    """The wires whose units have a hard floor at zero (a ReLU's output), in forward order:
    those where a unit can be dead."""
    return [k for k, name in wire_nodes(c).items() if _relu_like(c, name)]


@torch.no_grad()
def activation_stats(c: Compiled, inputs: dict[str, torch.Tensor],
                     only: set[Key] | None = None) -> list[WireStats]:
    """Each float wire's mean and standard deviation over a batch (Input node -> B × …), in
    forward order; for a ReLU-like output, the units (features of a vector, channels of a
    feature map: dimension 1) that never fire, zero for every sample and position. `only`:
    the wires to report (all when None)."""
    was = c.model.training
    c.model.eval()
    try:
        values = _run(c, _batched(c, inputs, batch=True))
    finally:
        c.model.train(was)
    names = wire_nodes(c)
    batch = len(next(iter(inputs.values())))
    out = []
    for key, v in values.items():
        if not isinstance(v, torch.Tensor) or not v.is_floating_point() or v.dim() < 2 \
                or len(v) != batch or (only is not None and key not in only):
            continue
        v = v.detach().float()
        relu = _relu_like(c, names[key])
        units = v.shape[1]
        dead = []
        if relu:
            fired = (v > 0).transpose(0, 1).reshape(units, -1).any(1)
            dead = [int(i) for i in torch.nonzero(~fired).flatten()]
        out.append(WireStats(key[0], key[1], tuple(v.shape[1:]), float(v.mean()),
                             float(v.std()) if v.numel() > 1 else 0.0, relu, units, dead))
    return out
