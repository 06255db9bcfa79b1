"""Compile a model graph to torch.fx GraphModules.

One torch module per node that builds one, registered under the node id, so the node id is
also the attribute name, the variable in `forward` and the prefix in `state_dict`. Two
GraphModules share those modules (the same objects):

- `model`: Input nodes -> Output nodes. This is what trains and what exports.
- `objective`: Inputs and Targets -> {"loss": Σ wᵢ Lᵢ, "losses": …, "preds": …, "taps": …}.
  It exists only for training.

A named sub-network (a GAN's generator) compiles on its own: edges entering it from outside
become placeholders, edges leaving it become outputs.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field

import torch
import torch.fx as fx
from torch import nn

from graph.analysis import Analysis, analyse
from graph.model import Graph
from graph.spec import BuildContext, Call, Make

from . import ops

NAMESPACE = {"torch": torch, "nn": nn, "F": torch.nn.functional, "ops": ops,
             "operator": operator}


class CompileError(Exception):
    """The graph cannot be compiled; `issues` holds every problem found."""

    def __init__(self, message: str, issues=()):
        super().__init__(message)
        self.issues = list(issues)


def resolve(target: str):
    head, *rest = target.split(".")
    obj = NAMESPACE[head]
    for part in rest:
        obj = getattr(obj, part)
    return obj


def init_weights(module: nn.Module, scheme: str) -> None:
    """'xavier': Glorot normal, Var(W) = 2 / (n_in + n_out), which is the seed notes'
    N(0, 1/n_in) when n_in = n_out. 'he': Kaiming normal, W ~ N(0, 2/n_in). Biases to 0."""
    if scheme == "default":
        return
    w = getattr(module, "weight", None)
    if not isinstance(w, torch.Tensor) or w.dim() < 2:
        return
    with torch.no_grad():
        if scheme == "xavier":
            nn.init.xavier_normal_(w)
        elif scheme == "he":
            nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu")
        else:
            raise ValueError(f"unknown init scheme {scheme!r}")
        b = getattr(module, "bias", None)
        if isinstance(b, torch.Tensor):
            b.zero_()


@dataclass
class Compiled:
    graph: Graph
    analysis: Analysis
    modules: nn.Module  # every node's module, by node id
    model: fx.GraphModule
    inputs: list[str]  # placeholder names of `model`, in order
    outputs: list[str]  # what `model` returns (one value, or a tuple in this order)
    objective: fx.GraphModule | None = None
    targets: list[str] = field(default_factory=list)  # objective placeholders after inputs
    losses: list[str] = field(default_factory=list)
    taps: list[str] = field(default_factory=list)  # nodes with a learning rule
    plans: dict = field(default_factory=dict)  # node -> Make | Call (for code export)

    @property
    def layers(self) -> list[str]:
        """Nodes with trainable parameters, in forward order."""
        return [n for n in self.analysis.order if n in self.modules._modules
                and any(True for _ in self.modules._modules[n].parameters())]


def build_modules(graph: Graph, analysis: Analysis) -> tuple[nn.Module, dict]:
    """Instantiate each node's module (weights initialised as the node asks)."""
    root = nn.Module()
    plans = {}
    for n in analysis.order:
        spec = graph.spec(n)
        if spec.build is None:
            continue
        ins = {}
        for port in spec.inputs:
            edges = graph.in_edges(n, port.name)
            types = [analysis.edge_type(e) for e in edges]
            ins[port.name] = types if port.multi else (types[0] if types else None)
        outs = {p.name: analysis.out_type(n, p.name) for p in spec.outputs}
        plan = spec.build(BuildContext(n, spec.resolved(graph.params(n)), ins, outs))
        plans[n] = plan
        if isinstance(plan, Make):
            module = resolve(plan.target)(**plan.kwargs)
            init_weights(module, plan.init)
            root.add_module(n, module)
    return root, plans


def compile_graph(graph: Graph, subnet: str | None = None) -> Compiled:
    """Check the graph, build its modules, and trace the model and objective graphs."""
    analysis = analyse(graph)
    if not analysis.ok:
        errs = analysis.errors
        more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
        raise CompileError(f"{errs[0]}{more}", errs)
    root, plans = build_modules(graph, analysis)

    members = set(graph.subnets[subnet]) if subnet is not None else None
    if subnet is not None and subnet not in graph.subnets:
        raise CompileError(f"there is no sub-network '{subnet}'")

    # The model: everything that neither is nor depends on a Target or a loss.
    training_only: set[str] = set()
    for n in analysis.order:
        role = graph.spec(n).role
        if role in ("target", "loss") or any(e.src in training_only for e in graph.in_edges(n)):
            training_only.add(n)
    model_nodes = [n for n in analysis.order if n not in training_only
                   and (members is None or n in members)]
    model, inputs, outputs = _trace(graph, root, plans, model_nodes, members, objective=False)
    compiled = Compiled(graph, analysis, root, model, inputs, outputs, plans=plans)

    if members is None and any(graph.spec(n).role == "loss" for n in analysis.order):
        objective, placeholders, _ = _trace(graph, root, plans, analysis.order, None,
                                            objective=True)
        compiled.objective = objective
        compiled.targets = [p for p in placeholders if graph.spec(p).role == "target"]
        compiled.losses = [n for n in analysis.order if graph.spec(n).role == "loss"]
        compiled.taps = [n for n in analysis.order if graph.spec(n).rule]
    return compiled


def _trace(graph: Graph, root: nn.Module, plans: dict, nodes: list[str], members,
           objective: bool):
    g = fx.Graph()
    values: dict[tuple[str, str], fx.Node] = {}
    placeholders: list[str] = []
    outputs: dict[str, fx.Node] = {}
    node_set = set(nodes)

    def value(edge) -> fx.Node:
        key = (edge.src, edge.src_port)
        if key not in values:  # an edge entering a sub-network from outside
            spec = graph.spec(edge.src)
            name = edge.src if len(spec.outputs) == 1 else f"{edge.src}_{edge.src_port}"
            values[key] = g.placeholder(name)
            placeholders.append(name)
        return values[key]

    for n in nodes:
        spec = graph.spec(n)
        if spec.role in ("input", "target"):
            values[(n, spec.outputs[0].name)] = g.placeholder(n)
            placeholders.append(n)
            continue
        args = []
        for port in spec.inputs:
            edges = graph.in_edges(n, port.name)
            vals = [value(e) for e in edges]
            args.append(vals if port.multi else vals[0])
        if spec.role == "output":
            outputs[n] = args[0]
            continue
        plan = plans[n]
        if isinstance(plan, Make):
            node = g.create_node("call_module", n, tuple(args), name=n)
        else:
            node = g.create_node("call_function", resolve(plan.target), tuple(args),
                                 dict(plan.kwargs), name=n)
        if spec.rule:
            node.meta["tap_input"] = args[0]
        if len(spec.outputs) == 1:
            values[(n, spec.outputs[0].name)] = node
        else:
            for i, port in enumerate(spec.outputs):
                values[(n, port.name)] = g.create_node(
                    "call_function", operator.getitem, (node, i), name=f"{n}_{port.name}")

    if members is not None:  # values leaving the sub-network are its outputs
        for n in nodes:
            for e in graph.out_edges(n):
                if e.dst not in node_set and (e.src, e.src_port) in values:
                    spec = graph.spec(n)
                    name = n if len(spec.outputs) == 1 else f"{n}_{e.src_port}"
                    outputs.setdefault(name, values[(e.src, e.src_port)])

    if objective:
        losses = {n: values[(n, "loss")] for n in nodes if graph.spec(n).role == "loss"}
        total = None
        for n, loss in losses.items():
            w = graph.params(n)["weight"]
            term = loss if w == 1 else g.create_node("call_function", operator.mul, (loss, w),
                                                     name=f"{n}_weighted")
            total = term if total is None else g.create_node(
                "call_function", operator.add, (total, term), name="total_loss")
        preds = {n: values[(graph.in_edges(n, "pred")[0].src, graph.in_edges(n, "pred")[0].src_port)]
                 for n in losses}
        taps = {n: (g_node.meta["tap_input"], g_node) for n in nodes if graph.spec(n).rule
                for g_node in [values[(n, graph.spec(n).outputs[0].name)]]}
        g.output({"loss": total, "losses": losses, "preds": preds,
                  "outputs": outputs, "taps": taps})
    else:
        outs = list(outputs.values())
        g.output(outs[0] if len(outs) == 1 else tuple(outs))  # () when there is no Output
    gm = fx.GraphModule(root, g, class_name="Objective" if objective else "Model")
    _plain_call(gm)
    return gm, placeholders, list(outputs)


def _plain_call(gm: fx.GraphModule) -> None:
    """fx wraps each GraphModule's __call__ (its class is private to the instance) to print
    the generated code and a traceback to stderr when forward raises. Our callers report errors
    in words, and the wrapper costs ~15 µs per call, so calls go straight to nn.Module's."""
    if "__call__" in vars(type(gm)):
        delattr(type(gm), "__call__")
