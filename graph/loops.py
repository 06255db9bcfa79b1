"""Recurrent loops (graph/blocks.py): a block whose state outputs feed its state inputs at
the next time step, run over the time axis of its sequence inputs. The seed's LSTM cell wired
from its gates is one: inputs x (a step), h and c (the states); outputs y (every step's h),
h_next and c_next (fed back into h and c). runtime/loops.py runs it."""
from __future__ import annotations

from .blocks import CATEGORY, BlockDef, Blocks, _prefix, block_name, inner_types, type_of
from .spec import Doc, Make, NodeRole, NodeSpec, Port, ShapeContext, TensorType


def loop_spec(registry: Blocks, d: BlockDef, params: tuple, summary: str) -> NodeSpec:
    """An instance of a loop: its sequence inputs, its initial states (optional: zeros),
    every step's outputs (N × T × …) and the final states."""
    return NodeSpec(
        type=type_of(d.name), title=d.title, category=CATEGORY,
        inputs=tuple(Port(n) for n in d.sequence_inputs) + tuple(
            Port(n, optional=True, doc="the state at the first step (zeros if unwired)")
            for n in d.state_inputs),
        outputs=tuple(Port(n, doc="at every step: N × T × …") for n in d.step_outputs)
        + tuple(Port(o, doc=f"the last step's '{o}' (the final state)") for o, _ in d.loop),
        params=tuple(params), shape=lambda ctx: loop_shape(registry, d.name, ctx),
        build=lambda ctx: Make("ops.RecurrentLoop", {"block": d.name}),
        doc=Doc(summary=summary,
                use_case="A recurrent loop: the block runs once per time step, its state "
                         "outputs feeding its state inputs at the next step. Double-click "
                         "to open the cell and see its gates."),
        color=d.color, id_prefix=_prefix(d.name))


def loop_shape(registry: Blocks, name: str, ctx: ShapeContext) -> dict:
    """A recurrent loop's output types: each sequence input N × T × … is read one step at a
    time (N × …); a state's type is its wired initial state's or, unwired, what the cell
    gives for it (found by running the cell once with a one-wide state), and must come out
    of a step as it went in."""
    cyc = registry.cycle(name)
    if cyc:
        ctx.fail("is a block that holds itself (" + " > ".join(cyc) + ")")
    d = registry[name]
    problems = d.problems()
    if problems:
        ctx.fail(f"(block '{name}') {problems[0]}")
    step, time = {}, None
    for p in d.sequence_inputs:
        t = ctx.ins[p]
        if len(t.shape) < 3:
            ctx.fail(f"runs its cell over time, so '{p}' must be a sequence N × T × …; "
                     f"'{ctx.src(p)}' gives {t}", p)
        if time is not None and t.shape[1] != time:
            ctx.fail(f"reads sequences of different lengths ({time} and {t.shape[1]})", p)
        time = t.shape[1]
        step[p] = TensorType((t.shape[0], *t.shape[2:]), t.dtype)
    batch = next(iter(step.values())).shape[0]
    state = {}
    for o, i in d.loop:
        if i in ctx.ins:
            state[i] = ctx.ins[i]
    missing = [i for _, i in d.loop if i not in state]
    if missing:  # probe: the cell's state outputs for a one-wide state
        probe = {**step, **{i: TensorType((batch, 1)) for i in missing}, **state}
        outs, why, _ = inner_types(registry, name, tuple(probe[i] for i in d.inputs), ctx.p)
        if why:
            ctx.fail(f"> {why} (finding the size of its state "
                     f"{', '.join(repr(m) for m in missing)}: wire an initial state)")
        got = dict(zip(d.outputs, outs))
        for o, i in d.loop:
            if i in missing:
                state[i] = TensorType((batch, *got[o].shape[1:]), got[o].dtype)
    ins = {**step, **state}
    outs, why, _ = inner_types(registry, name, tuple(ins[i] for i in d.inputs), ctx.p)
    if why:
        ctx.fail(f"> {why}")
    got = dict(zip(d.outputs, outs))
    for o, i in d.loop:
        if got[o].shape[1:] != state[i].shape[1:] or got[o].dtype != state[i].dtype:
            ctx.fail(f"feeds '{o}' back into '{i}', but a step takes {state[i]} there and "
                     f"gives {got[o]}: a state must keep its size", i)
    out = {o: TensorType((batch, time, *got[o].shape[1:]), got[o].dtype)
           for o in d.step_outputs}
    out.update({o: state[i] for o, i in d.loop})
    return out


def cell_graph(graph, n: str, analysis) -> tuple:
    """The definition of loop instance `n` as a model of its own: each Block input an Input
    of one step's (or the state's) type, each Block output an Output, the instance's
    exposed parameters applied; and each state's shape (no batch), for its zeros."""
    from .model import Graph
    d = graph.blocks[block_name(graph.node_type(n))]
    spec = graph.spec(n)
    params = spec.resolved(graph.params(n))
    types = {}
    for p in d.sequence_inputs:
        t = analysis.edge_type(graph.in_edges(n, p)[0])
        types[p] = (list(t.shape[2:]), t.dtype)
    for o, i in d.loop:
        t = analysis.out_type(n, o)
        types[i] = (list(t.shape[1:]), t.dtype)
    over = d.overrides(params)
    cell = Graph(_blocks=graph.blocks)
    graph.blocks.unsubscribe(cell._emit)
    for m in d.graph.nodes():
        role = d.graph.spec(m).role
        if role == NodeRole.BLOCK_INPUT:
            shape, dtype = types[m]
            cell.add_node("Input", m, {"shape": shape, "dtype": dtype})
        elif role == NodeRole.BLOCK_OUTPUT:
            cell.add_node("Output", m)
        else:
            cell.add_node(d.graph.node_type(m), m, {**d.graph.params(m), **over.get(m, {})},
                          check_params=False)
    for e in d.graph.edges():
        cell.connect(e.src, e.src_port, e.dst, e.dst_port, check=False)
    return cell, {i: types[i][0] for _, i in d.loop}
