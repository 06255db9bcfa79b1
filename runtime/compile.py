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
from graph.flatten import FlattenError, flatten, has_instances
from graph.model import Graph
from graph.phases import upstream
from graph.subnets import subnet_io
from graph.spec import BATCH, BuildContext, Call, Make, NodeRole, ParamRole

from . import ops
from .memory import available_memory, check_memory, format_bytes  # noqa: F401 (old path)
from .modules import (NAMESPACE, OP_MODULES, OPS, Block, init_weights,  # noqa: F401
                      meta_module, module_at, place, resolve)

class CompileError(Exception):
    """The graph cannot be compiled; `issues` holds every problem found."""

    def __init__(self, message: str, issues=()):
        super().__init__(message)
        self.issues = list(issues)


@dataclass(frozen=True)
class Noise:
    """What a noise node draws each step: n × shape values from `distribution` ("normal":
    N(0, I), "uniform": U(−1, 1)), read from its parameters by role."""
    shape: tuple
    distribution: str

    @classmethod
    def of(cls, graph: Graph, node: str) -> Noise:
        spec, params = graph.spec(node), graph.params(node)
        return cls(tuple(spec.role_value(params, ParamRole.SAMPLE_SHAPE)),
                   spec.role_value(params, ParamRole.NOISE_DISTRIBUTION))

    def sample(self, n: int, device=None, generator: torch.Generator | None = None):
        return ops.sample_noise(n, self.shape, self.distribution, device, generator)


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
    # Input node -> the name of its Standardize module (data.standardize: z-scored features)
    standardizers: dict[str, str] = field(default_factory=dict)
    # Greedy decode node -> its decoder's step: (tokens so far, *outside values) -> scores
    steps: dict[str, fx.GraphModule] = field(default_factory=dict)
    feeds: list[str] = field(default_factory=list)  # the objective's placeholders, in order
    # a block's module path -> ("list" | "block", its definition) (graph/flatten.Flat)
    containers: dict = field(default_factory=dict)

    @property
    def noise_inputs(self) -> list[str]:
        """The objective's placeholders drawn as noise each step (not dataset fields)."""
        return [n for n in self.feeds if self.graph.spec(n).role == NodeRole.NOISE]

    @property
    def generator(self) -> bool:
        """Whether the model reads noise only (a GAN's generator)."""
        return bool(self.inputs) and all(self.graph.spec(n).role == NodeRole.NOISE
                                         for n in self.inputs)

    def module(self, n: str) -> nn.Module | None:
        """Node n's module (a block's inner node: at its dotted path), or None."""
        return module_at(self.modules, self.graph.module_path(n))

    @property
    def module_order(self) -> list[str]:
        """Every module's name in the order forward runs them (standardisers first)."""
        return list(self.standardizers.values()) + [n for n in self.analysis.order
                                                    if isinstance(self.plans.get(n), Make)]

    @property
    def layers(self) -> list[str]:
        """Nodes with trainable parameters, in forward order."""
        return [n for n in self.analysis.order if isinstance(self.plans.get(n), Make)
                and any(True for _ in self.module(n).parameters())]


def build_plan(graph: Graph, analysis: Analysis, n: str) -> Make | Call | None:
    """What node `n` builds, from its params and the inferred types around it; None where it
    builds nothing or a type it needs is unknown."""
    spec = graph.spec(n)
    if spec.build is None:
        return None
    ins = {}
    for port in spec.inputs:
        types = [analysis.edge_type(e) for e in graph.in_edges(n, port.name)]
        if any(t is None for t in types):
            return None
        ins[port.name] = types if port.multi else (types[0] if types else None)
    outs = {p.name: analysis.out_type(n, p.name) for p in spec.outputs}
    if any(t is None for t in outs.values()):
        return None
    return spec.build(BuildContext(n, spec.resolved(graph.params(n)), ins, outs))


def describe(graph: Graph, n: str) -> str:
    """"Linear 'fc1'": a node for a message."""
    return f"{graph.spec(n).title} '{n}'"


def build_modules(graph: Graph, analysis: Analysis,
                  containers: dict | None = None) -> tuple[nn.Module, dict]:
    """Instantiate each node's module (weights initialised as the node asks), at its module
    path (a block's inner node: nested in the block's containers)."""
    root = nn.Module()
    plans, built = {}, {}
    for n in analysis.order:
        plan = build_plan(graph, analysis, n)
        if plan is None:
            continue
        plans[n] = plan
        if isinstance(plan, Make):
            path = graph.module_path(n)
            if path in built:  # a repetition sharing the first one's weights
                if built[path] != plan:
                    raise CompileError(f"{describe(graph, n)} shares its weights with "
                                       f"'{path}' but would need other sizes ({plan.kwargs} "
                                       f"against {built[path].kwargs})")
                continue
            if plan.target == "ops.RecurrentLoop":  # a block run per time step
                from .loops import build_loop
                module = build_loop(graph, analysis, n)
            else:
                module = resolve(plan.target)(**plan.kwargs)
                init_weights(module, plan.init)
            if "." in path:
                place(root, path, module, containers or {})
            else:
                root.add_module(path, module)
            built[path] = plan
    return root, plans


def standardizable(graph: Graph, analysis: Analysis) -> list[str]:
    """The Inputs whose samples are float feature vectors (N × F): what data.standardize
    scales (images and token ids are left alone)."""
    out = []
    for n in analysis.order:
        if graph.spec(n).role == "input":
            t = analysis.out_type(n, graph.spec(n).value_port)
            if t is not None and t.dtype != "int64" and len(t.sample_shape) == 1:
                out.append(n)
    return out


def normalizable(graph: Graph, analysis: Analysis) -> list[str]:
    """The Inputs whose samples are float images (C × H × W): what data.augment.normalize
    normalises per channel."""
    out = []
    for n in analysis.order:
        if graph.spec(n).role == "input":
            t = analysis.out_type(n, graph.spec(n).value_port)
            if t is not None and t.dtype != "int64" and len(t.sample_shape) == 3:
                out.append(n)
    return out


def compile_graph(graph: Graph, subnet: str | None = None,
                  standardize: bool = False, normalize=None) -> Compiled:
    """Check the graph, build its modules, and trace the model and objective graphs. With
    `standardize`, each feature-vector Input (see `standardizable`) is z-scored by a
    Standardize module (named `<input>_standardize`) that the trainer fits on the training
    split; it is part of the model, so exports scale raw features the same way. With
    `normalize` (data.augment.normalize), each image Input (see `normalizable`) is normalised
    per channel by a Normalize module (`<input>_normalize`), kept with the standardizers."""
    analysis = analyse(graph)
    containers = {}
    if analysis.ok and has_instances(graph):  # blocks: compile their expansion
        try:
            flat = flatten(graph)
        except FlattenError as e:
            raise CompileError(str(e)) from None
        graph, containers = flat.graph, flat.containers
        analysis = analyse(graph)
    if not analysis.ok:
        errs = analysis.errors
        more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
        raise CompileError(f"{errs[0]}{more}", errs)
    check_memory(graph, analysis)
    root, plans = build_modules(graph, analysis, containers)
    standardizers = {}
    if standardize:
        for n in standardizable(graph, analysis):
            name = f"{n}_standardize"
            while name in graph or name in standardizers.values():
                name += "_"
            features = analysis.out_type(n, graph.spec(n).value_port).sample_shape[0]
            plans[name] = Make("ops.Standardize", {"num_features": features})
            root.add_module(name, ops.Standardize(features))
            standardizers[n] = name
    if normalize is not None:  # data.augment.normalize: 'from data', or given mean/std lists
        for n in normalizable(graph, analysis):
            name, channels = f"{n}_normalize", analysis.out_type(
                n, graph.spec(n).value_port).sample_shape[0]
            while name in graph or name in standardizers.values():
                name += "_"
            given = {} if normalize == "from data" else {"mean": list(normalize.mean),
                                                         "std": list(normalize.std)}
            if given and len(given["mean"]) != channels:
                raise CompileError(f"data.augment.normalize: {len(given['mean'])} mean and std "
                                   f"values given, but the Input '{n}' has {channels} "
                                   f"channel{'s' * (channels != 1)}: give one per channel")
            plans[name] = Make("ops.Normalize", {"channels": channels, **given})
            root.add_module(name, ops.Normalize(channels, **given))
            standardizers[n] = name

    members = set(graph.subnets[subnet]) if subnet is not None else None
    if subnet is not None and subnet not in graph.subnets:
        raise CompileError(f"there is no sub-network '{subnet}'")

    # The model (the inference graph): everything that neither is nor depends on a Target or
    # a loss, nor is marked training-only (graph/phases.py); a decoder fed its previous tokens
    # runs inside its Greedy decode node, as a step GraphModule of its own.
    ph = analysis.phases
    decoders: dict[str, list[tuple[str, str]]] = {}
    steps: dict[str, fx.GraphModule] = {}
    model_nodes = [n for n in ph.model_nodes(analysis.order) if members is None or n in members]
    for g, step_nodes in ph.steps.items():
        if g not in model_nodes:
            continue
        logits = graph.in_edges(g)[0]
        step, _, _, external = _trace(graph, root, plans, step_nodes, set(step_nodes),
                                      objective=False, returns=[(logits.src, logits.src_port)],
                                      order=analysis.order)
        if not external:
            raise CompileError(f"{describe(graph, g)} runs a decoder that reads nothing but its "
                               "own tokens: wire the encoder's output to the decoder")
        types = [analysis.out_type(*k) for k in external]
        batch_from = next((i for i, t in enumerate(types)
                           if t is not None and t.shape and t.shape[0] == BATCH), 0)
        fb = ph.feedback[g]
        start = graph.spec(fb).role_value(graph.params(fb), ParamRole.START_TOKEN)
        module_at(root, graph.module_path(g)).bind(step, start=start, batch_from=batch_from)
        decoders[g], steps[g] = external, step
    model_nodes = _reaching_outputs(graph, model_nodes, members)
    model, inputs, outputs, _ = _trace(graph, root, plans, model_nodes, members, objective=False,
                                       standardizers=standardizers, decoders=decoders,
                                       order=analysis.order)
    for step in steps.values():  # the decoders' layers are the model's too: its state dict,
        for name, module in step.named_children():  # .to(device), eval() and exports
            if name not in model._modules:
                model.add_module(name, module)
    compiled = Compiled(graph, analysis, root, model, inputs, outputs, plans=plans,
                        standardizers=standardizers, steps=steps, containers=containers)

    if members is None and any(graph.spec(n).role == "loss" for n in analysis.order):
        objective, placeholders, _, _ = _trace(graph, root, plans,
                                               ph.training_nodes(analysis.order), None,
                                               objective=True, standardizers=standardizers,
                                               order=analysis.order)
        compiled.objective = objective
        compiled.feeds = placeholders
        compiled.targets = [p for p in placeholders if graph.spec(p).role == "target"]
        compiled.losses = [n for n in analysis.order if graph.spec(n).role == "loss"]
        compiled.taps = [n for n in analysis.order if graph.spec(n).rule]
    return compiled


def _reaching_outputs(graph: Graph, nodes: list[str], members) -> list[str]:
    """The model: the nodes an Output depends on (a GAN's discriminator, which only its
    losses read, is no part of the generator that exports). A graph without Outputs (or a
    sub-network compiled alone) keeps every node."""
    outputs = [n for n in nodes if graph.spec(n).role == "output"]
    if members is not None or not outputs:
        return nodes
    keep = upstream(graph, outputs)
    return [n for n in nodes if n in keep]


def objective_for(c: Compiled, losses: list[str]) -> tuple[fx.GraphModule, list[str]]:
    """The objective of some loss nodes only (one optimizer record's): the nodes they depend
    on, traced with the same modules; and its placeholders, in order. Its output has the
    objective's keys, over those losses."""
    need = upstream(c.graph, losses)
    nodes = [n for n in c.analysis.phases.training_nodes(c.analysis.order) if n in need]
    gm, placeholders, _, _ = _trace(c.graph, c.modules, c.plans, nodes, None, objective=True,
                                    standardizers=c.standardizers, order=c.analysis.order)
    return gm, placeholders


def _trace(graph: Graph, root: nn.Module, plans: dict, nodes: list[str], members,
           objective: bool, standardizers: dict[str, str] | None = None,
           decoders: dict | None = None, returns: list | None = None,
           order: list[str] | None = None):
    """The GraphModule of `nodes`, and its placeholders, outputs and the values entering from
    outside `members` ((node, port) keys, in placeholder order). `decoders`: a decode node ->
    the values its step reads besides the tokens (its call's arguments). `returns`: return
    these values ((node, port) keys) rather than the Outputs' (a decoder's step)."""
    g = fx.Graph()
    values: dict[tuple[str, str], fx.Node] = {}
    placeholders: list[str] = []
    external: list[tuple[str, str]] = []
    outputs: dict[str, fx.Node] = {}
    node_set = set(nodes)
    decoders = decoders or {}
    order = order if order is not None else list(nodes)

    def value(edge) -> fx.Node:
        key = (edge.src, edge.src_port)
        if key not in values:  # an edge entering a sub-network from outside
            spec = graph.spec(edge.src)
            name = edge.src if len(spec.outputs) == 1 else f"{edge.src}_{edge.src_port}"
            values[key] = g.placeholder(name.replace(".", "_"))  # an fx argument: no dots
            placeholders.append(name)
            external.append(key)
        return values[key]

    def emit(n: str, vals: dict, name: str) -> None:
        """Add node `n` to the graph, reading its inputs from `vals` (values by (node,
        port)) and storing its outputs there; `name` is the fx node's name."""
        spec = graph.spec(n)
        args, kwargs, by_port = [], {}, {}
        for port in spec.inputs:
            if port.phase == "train" and not objective:  # wired in training only
                continue
            if port.phase == "infer" and objective:  # wired at inference only
                continue
            edges = graph.in_edges(n, port.name)
            vs = [vals[(e.src, e.src_port)] if (e.src, e.src_port) in vals else value(e)
                  for e in edges]
            if not vs and not port.multi:  # an optional input left unwired: left out
                continue
            v = vs if port.multi else vs[0]
            by_port[port.name] = v
            if port.optional or port.by_name:
                kwargs[port.name] = v
            else:
                args.append(v)
        if spec.role == "output":
            outputs[n] = args[0]
            return
        if spec.role == "apply":  # the sub-network again, on this input: the same modules
            io = subnet_io(graph, spec.role_value(graph.params(n), ParamRole.SUBNET), order)
            inner = {io.entry: args[0]}
            for m in io.members:
                emit(m, inner, f"{name}_{m}")
            vals[(n, spec.outputs[0].name)] = inner[io.exit]
            return
        plan = plans[n]
        if isinstance(plan, Make):
            node = g.create_node("call_module", graph.module_path(n), tuple(args), kwargs,
                                 name=name)
        else:
            node = g.create_node("call_function", resolve(plan.target), tuple(args),
                                 {**kwargs, **plan.kwargs}, name=name)
        if spec.rule:
            node.meta["tap_input"] = by_port[spec.in_role("features")]
        if len(spec.outputs) == 1:
            vals[(n, spec.outputs[0].name)] = node
        else:
            for i, port in enumerate(spec.outputs):
                v = node
                for j, index in enumerate(port.path or (i,)):
                    last = j == len(port.path or (i,)) - 1
                    v = g.create_node("call_function", operator.getitem, (v, index),
                                      name=f"{name}_{port.name}" if last else None)
                vals[(n, port.name)] = v

    for n in nodes:
        spec = graph.spec(n)
        if spec.role == "feedback" and not objective:  # a decoder's step: the tokens so far
            values[(n, spec.outputs[0].name)] = g.placeholder(n)
            placeholders.append(n)
            continue
        if n in decoders:  # the decode loop: its step's outside values are its arguments
            node = g.create_node("call_module", graph.module_path(n),
                                 tuple(values[k] for k in decoders[n]), name=n)
            values[(n, spec.outputs[0].name)] = node
            continue
        if spec.role in ("input", "target", "noise"):
            value_ = g.placeholder(n)
            placeholders.append(n)
            if standardizers and n in standardizers:
                value_ = g.create_node("call_module", standardizers[n], (value_,),
                                       name=standardizers[n])
            values[(n, spec.value_port)] = value_
            continue
        emit(n, values, n)

    if members is not None:  # values leaving the sub-network are its outputs
        for n in nodes:
            for e in graph.out_edges(n):
                if e.dst not in node_set and (e.src, e.src_port) in values:
                    spec = graph.spec(n)
                    name = n if len(spec.outputs) == 1 else f"{n}_{e.src_port}"
                    outputs.setdefault(name, values[(e.src, e.src_port)])

    if objective:
        losses = {n: values[(n, graph.spec(n).out_role("loss"))] for n in nodes
                  if graph.spec(n).role == "loss"}
        total = None
        for n, loss in losses.items():
            w = graph.spec(n).role_value(graph.params(n), ParamRole.LOSS_WEIGHT)
            term = loss if w == 1 else g.create_node("call_function", operator.mul, (loss, w),
                                                     name=f"{n}_weighted")
            total = term if total is None else g.create_node(
                "call_function", operator.add, (total, term), name="total_loss")
        preds, fakes = {}, {}
        for n in losses:
            e = graph.in_edges(n, graph.spec(n).in_role("pred"))[0]
            preds[n] = values[(e.src, e.src_port)]
            fake = next((p.name for p in graph.spec(n).inputs if p.role == "fake"), None)
            if fake is not None:  # a GAN discriminator loss: its score of generated samples
                e = graph.in_edges(n, fake)[0]
                fakes[n] = values[(e.src, e.src_port)]
        taps = {n: (g_node.meta["tap_input"], g_node) for n in nodes if graph.spec(n).rule
                for g_node in [values[(n, graph.spec(n).outputs[0].name)]]}
        g.output({"loss": total, "losses": losses, "preds": preds, "fakes": fakes,
                  "outputs": outputs, "taps": taps})
    elif returns is not None:
        outs = [values[k] for k in returns]
        g.output(outs[0] if len(outs) == 1 else tuple(outs))
    else:
        outs = list(outputs.values())
        g.output(outs[0] if len(outs) == 1 else tuple(outs))  # () when there is no Output
    _drop_unused_outputs(g)
    name = "Objective" if objective else ("Step" if returns is not None else "Model")
    gm = fx.GraphModule(root, g, class_name=name)
    for child, module in list(gm._modules.items()):  # a block's own container (fx made a
        real = root._modules.get(child)  # plain Module on the way to the inner ones)
        if isinstance(real, (Block, nn.ModuleList)) and module is not real:
            gm._modules[child] = real
    _plain_call(gm)
    return gm, placeholders, list(outputs), external


def _drop_unused_outputs(g: fx.Graph) -> None:
    """Remove the picks (getitem) of outputs nothing reads, e.g. an LSTM's final c when only
    its sequence y is wired: the generated code then reads like hand-written code."""
    changed = True
    while changed:
        changed = False
        for node in reversed(list(g.nodes)):
            if node.op == "call_function" and node.target is operator.getitem and not node.users:
                g.erase_node(node)
                changed = True


def _plain_call(gm: fx.GraphModule) -> None:
    """fx wraps each GraphModule's __call__ (its class is private to the instance) to print
    the generated code and a traceback to stderr when forward raises. Our callers report errors
    in words, and the wrapper costs ~15 µs per call, so calls go straight to nn.Module's."""
    if "__call__" in vars(type(gm)):
        delattr(type(gm), "__call__")
