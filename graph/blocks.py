"""Blocks: named graphs used as nodes (ARCHITECTURE.md, "Blocks").

A **definition** (`BlockDef`) is a graph of nodes and wires whose Block input and Block
output nodes (graph/catalogue/blocks.py) are its ports, with **exposed parameters**: a block
parameter that sets one or more inner node parameters ("channels" -> conv1.out_channels and
conv2.out_channels), with a default. Definitions live in a project's `Blocks` registry,
shared by the top-level graph and every definition's graph (a definition may hold instances
of others, to any depth; one that holds itself, directly or not, is refused).

An **instance** is a node of type "block:<name>" whose spec is made from its definition
(`instance_spec`): its ports are the definition's, its params the exposed ones plus
`repeat` (apply the block N times in sequence, each output feeding the next repetition's
input at its place) and `share_weights` (the same weights for every repetition). Editing a
definition changes every instance (they are linked).

Analysis runs through a definition with the instance's input types and parameters
(`instance_shape`); compile works on `flatten(graph)`, one graph of catalogue nodes whose ids
are dotted paths ("stage2.0.conv1"), which are also the module paths of their weights
(graph/flatten.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from .spec import Doc, NodeRole, NodeSpec, Param, Port, ShapeContext, TensorType

PREFIX = "block:"
CATEGORY = "Blocks"
COLOR = "#2c3e50"
MAX_REPEAT = 256
RESERVED_PARAMS = ("repeat", "share_weights")

REPEAT = Param("repeat", "int", 1,
               "How many times the block is applied in sequence: each repetition's outputs "
               "feed the next one's inputs at the same place. Each repetition has its own "
               "weights unless share_weights is on.", min=1, max=MAX_REPEAT)
SHARE = Param("share_weights", "bool", False,
              "Apply the same weights in every repetition (one block's parameters, used "
              "`repeat` times), as a recurrent network applies one cell at each step.",
              label="share weights")


def type_of(name: str) -> str:
    return PREFIX + name


def block_name(type_id: str) -> str | None:
    """The definition an instance type names ("block:basic" -> "basic"), else None."""
    return type_id[len(PREFIX):] if type_id.startswith(PREFIX) else None


@dataclass(frozen=True)
class Exposed:
    """A block parameter: sets `targets` ("node.param" inside the definition) to its value."""
    name: str
    targets: tuple[str, ...]
    default: Any = None  # None: the first target's value in the definition
    help: str = ""

    def to_dict(self) -> dict:
        d = {"name": self.name, "targets": list(self.targets), "default": self.default}
        if self.help:
            d["help"] = self.help
        return d


@dataclass(frozen=True)
class BlockChanged:
    """A definition was added, removed or edited (an event every graph sharing the registry
    passes on to its listeners)."""
    name: str


class BlockDef:
    """One definition: its graph (Block input/output nodes are its ports), title, help text
    and exposed parameters."""

    def __init__(self, registry: "Blocks", name: str, title: str = "", doc: str = "",
                 exposed: tuple[Exposed, ...] = (), color: str = COLOR,
                 loop: tuple[tuple[str, str], ...] = ()):
        from .model import Graph
        self.registry, self.name = registry, name
        self.title, self.doc, self.color = title or name, doc, color
        self.exposed = tuple(exposed)
        # A recurrent loop: (state output, state input) pairs. An instance runs the block
        # once per time step of its sequence inputs, each state output feeding its state
        # input at the next step (graph/blocks.loop_shape, runtime/loops.py).
        self.loop = tuple(tuple(p) for p in loop)
        self.graph = Graph(_blocks=registry, _owner=name)
        self.graph.subscribe(self._on_event)

    def _on_event(self, ev) -> None:
        from .events import NodeMoved, NodeRenamed
        if isinstance(ev, NodeRenamed):  # exposed targets follow a renamed node
            self.exposed = tuple(
                Exposed(x.name, tuple(f"{ev.new}.{t.split('.', 1)[1]}"
                                      if t.split(".", 1)[0] == ev.old else t
                                      for t in x.targets), x.default, x.help)
                for x in self.exposed)
        if not isinstance(ev, (NodeMoved, BlockChanged)):
            self.registry.changed(self.name)

    def _ports(self, role: NodeRole) -> list[str]:
        return [n for n in self.graph.nodes() if self.graph.spec(n).role == role]

    @property
    def inputs(self) -> list[str]:
        """Input port names: the Block input nodes, in the graph's order."""
        return self._ports(NodeRole.BLOCK_INPUT)

    @property
    def outputs(self) -> list[str]:
        return self._ports(NodeRole.BLOCK_OUTPUT)

    def target_param(self, target: str) -> tuple[str, Param] | None:
        """(node, its Param) a target "node.param" sets, or None if there is none."""
        node, _, pname = target.partition(".")
        if node not in self.graph:
            return None
        try:
            return node, self.graph.spec(node).param(pname)
        except KeyError:
            return None

    def exposed_problem(self, x: Exposed) -> str | None:
        """None if the exposed parameter can be used, else why not (naming the target)."""
        if not x.name.isidentifier() or x.name in RESERVED_PARAMS:
            return f"a block parameter cannot be named {x.name!r}"
        if not x.targets:
            return f"the block parameter '{x.name}' sets nothing"
        kinds = set()
        for t in x.targets:
            found = self.target_param(t)
            if found is None:
                return (f"the block parameter '{x.name}' sets '{t}', which the block does not "
                        "have (no such node or parameter)")
            kinds.add(found[1].kind)
        if len(kinds) > 1:
            return (f"the block parameter '{x.name}' sets parameters of different kinds "
                    f"({', '.join(sorted(kinds))})")
        param = self.param(x)
        if x.default is not None and param.check(x.default):
            return f"the block parameter '{x.name}': its default {param.check(x.default)}"
        return None

    def param(self, x: Exposed) -> Param:
        """The instance's Param for an exposed parameter: the first target's, renamed, with
        the exposed default (the target's value in the definition where none is given)."""
        node, p = self.target_param(x.targets[0])
        default = x.default if x.default is not None and p.check(x.default) is None \
            else self.graph.params(node)[p.name]
        if p.check(default) is not None:  # an unset "auto" size: the instance leaves it auto
            default = p.default
        where = ", ".join(x.targets)
        return Param(x.name, p.kind, default, x.help or f"{p.help} (sets {where})",
                     p.min, p.max, p.choices, p.auto, role=p.role)

    @property
    def state_inputs(self) -> list[str]:
        return [i for _, i in self.loop]

    @property
    def sequence_inputs(self) -> list[str]:
        """A loop's inputs read one time step at a time (the others carry its state)."""
        return [i for i in self.inputs if i not in self.state_inputs]

    @property
    def step_outputs(self) -> list[str]:
        """A loop's outputs given at every step (stacked over time); the others are its
        states, given once: their final value."""
        return [o for o in self.outputs if o not in {o for o, _ in self.loop}]

    def loop_problem(self) -> str | None:
        outs, ins = [o for o, _ in self.loop], [i for _, i in self.loop]
        for o, i in self.loop:
            if o not in self.outputs:
                return f"its loop feeds back '{o}', which is not one of its Block outputs"
            if i not in self.inputs:
                return f"its loop feeds '{o}' into '{i}', which is not one of its Block inputs"
        if len(set(outs)) < len(outs) or len(set(ins)) < len(ins):
            return "its loop pairs each state output with one state input, once"
        if self.loop and not self.sequence_inputs:
            return "a loop needs a Block input that reads the sequence, besides its states"
        return None

    def problems(self) -> list[str]:
        out = [why for x in self.exposed if (why := self.exposed_problem(x))]
        if self.loop_problem():
            out.append(self.loop_problem())
        names = [x.name for x in self.exposed]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            out.append(f"two block parameters are named '{dup}'")
        if not self.outputs:
            out.append("has no Block output node: nothing leaves it")
        for n in self.graph.nodes():
            role = self.graph.spec(n).role
            if not (role.layer_like or role.block_port):
                out.append(f"holds {self.graph.spec(n).title} '{n}': a block holds layers "
                           "(its inputs and outputs are Block input and Block output nodes)")
        return out

    def overrides(self, params: dict) -> dict[str, dict]:
        """Inner node -> {param: value} an instance's parameters set."""
        out: dict[str, dict] = {}
        for x in self.exposed:
            if x.name in params and self.exposed_problem(x) is None:
                for t in x.targets:
                    node, _, pname = t.partition(".")
                    out.setdefault(node, {})[pname] = params[x.name]
        return out

    def to_dict(self) -> dict:
        from .project import graph_records
        nodes, edges = graph_records(self.graph)
        d = {"name": self.name, "title": self.title}
        if self.doc:
            d["doc"] = self.doc
        d["exposed"] = [x.to_dict() for x in self.exposed]
        if self.loop:
            d["loop"] = [list(p) for p in self.loop]
        d["nodes"], d["edges"] = nodes, edges
        return d


class Blocks:
    """A project's block definitions by name, shared by all its graphs. `version` counts
    changes to any definition (caches of specs and inner analyses key on it)."""

    def __init__(self):
        self._defs: dict[str, BlockDef] = {}
        self.version = 0
        self._listeners: list[Callable[[BlockChanged], None]] = []
        self._specs: dict[str, NodeSpec] = {}
        self._types: dict = {}  # memoised inner analyses (instance_shape)

    def __contains__(self, name: str) -> bool:
        return name in self._defs

    def __getitem__(self, name: str) -> BlockDef:
        return self._defs[name]

    def __iter__(self):
        return iter(self._defs)

    def __len__(self) -> int:
        return len(self._defs)

    def names(self) -> list[str]:
        return list(self._defs)

    def subscribe(self, fn) -> None:
        self._listeners.append(fn)

    def unsubscribe(self, fn) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def changed(self, name: str) -> None:
        self.version += 1
        self._specs.clear()
        self._types.clear()
        for fn in list(self._listeners):
            fn(BlockChanged(name))

    def _put(self, d: BlockDef, index: int | None = None) -> None:
        items = list(self._defs.items())
        items.insert(len(items) if index is None else index, (d.name, d))
        self._defs = dict(items)
        self.changed(d.name)

    def _pop(self, name: str) -> tuple[BlockDef, int]:
        index = list(self._defs).index(name)
        d = self._defs.pop(name)
        self.changed(name)
        return d, index

    def contains(self, outer: str, inner: str) -> bool:
        """Whether definition `outer` holds an instance of `inner`, directly or not."""
        seen, todo = set(), [outer]
        while todo:
            name = todo.pop()
            if name in seen or name not in self._defs:
                continue
            seen.add(name)
            for n in self._defs[name].graph.nodes():
                b = block_name(self._defs[name].graph.node_type(n))
                if b == inner:
                    return True
                if b is not None:
                    todo.append(b)
        return False

    def cycle(self, name: str) -> list[str] | None:
        """A chain of definitions by which `name` holds itself ([a, b, a]), or None."""
        def walk(path):
            d = self._defs.get(path[-1])
            if d is None:
                return None
            for n in d.graph.nodes():
                b = block_name(d.graph.node_type(n))
                if b is None:
                    continue
                if b == name:
                    return path + [b]
                if b not in path:
                    found = walk(path + [b])
                    if found:
                        return found
            return None
        return walk([name])

    def spec(self, name: str) -> NodeSpec:
        """The NodeSpec of an instance of `name` (KeyError if there is no such block)."""
        if name not in self._specs:
            self._specs[name] = instance_spec(self, self._defs[name])
        return self._specs[name]

    def users(self, name: str, top=None) -> list[str]:
        """Where `name` is used: "node" in `top` (the project's graph) and "def > node" in
        other definitions."""
        out = [n for n in (top.nodes() if top is not None else [])
               if block_name(top.node_type(n)) == name]
        for d in self._defs.values():
            out += [f"{d.name} > {n}" for n in d.graph.nodes()
                    if block_name(d.graph.node_type(n)) == name]
        return out


def instance_spec(registry: Blocks, d: BlockDef) -> NodeSpec:
    params, seen = [], set()
    for x in d.exposed:
        if x.name in seen or x.name in RESERVED_PARAMS or not x.name.isidentifier():
            continue
        why = d.exposed_problem(x)
        params.append(d.param(x) if why is None else _broken_param(x, why))
        seen.add(x.name)
    summary = d.doc or f"The block '{d.name}': a graph of {len(d.graph)} nodes used as one."
    if d.loop and d.loop_problem() is None:
        from .loops import loop_spec
        return loop_spec(registry, d, tuple(params), summary)
    return NodeSpec(
        type=type_of(d.name), title=d.title, category=CATEGORY,
        inputs=tuple(Port(n, optional=bool(d.graph.params(n).get("optional")))
                     for n in d.inputs),
        outputs=tuple(Port(n) for n in d.outputs),
        params=(*params, REPEAT, SHARE),
        shape=lambda ctx: instance_shape(registry, d.name, ctx),
        doc=Doc(summary=summary,
                use_case="Double-click to open its definition; an edit there changes every "
                         "place it is used. `repeat` applies it several times in sequence."),
        color=d.color, id_prefix=_prefix(d.name),
    )


def _broken_param(x: Exposed, why: str) -> Param:
    """An exposed parameter whose targets are gone: kept (with its value) so the file's
    instances still load; analysis names the problem."""
    v = x.default
    kind = ("bool" if isinstance(v, bool) else "int" if isinstance(v, int) else
            "float" if isinstance(v, float) else "str")
    if kind == "str" and not isinstance(v, str):
        v = None
    return Param(x.name, kind, v, f"Sets nothing now: {why}.", auto=v is None)


def _prefix(name: str) -> str:
    from .model import to_identifier
    s = to_identifier(name)
    return s[:-1] if s[-1:].isdigit() and len(s) > 1 else s


def _key(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def inner_types(registry: Blocks, name: str, ins: tuple[TensorType, ...],
                params: dict) -> tuple[tuple[TensorType, ...] | None, str | None, Any]:
    """One application of definition `name` to input types `ins` (None: an optional input
    left unwired) with an instance's parameters: (the output types, None) or (None, the first problem inside). The third value
    is the inner Analysis (for showing a definition's wires)."""
    from .analysis import analyse
    d = registry[name]
    key = (registry.version, name, ins, _key(params))
    hit = registry._types.get(key)
    if hit is not None:
        return hit
    given = {b: t for b, t in zip(d.inputs, ins) if t is not None}
    absent = frozenset(b for b, t in zip(d.inputs, ins) if t is None)
    a = analyse(d.graph, given=given, overrides=d.overrides(params), absent=absent)
    if a.errors:
        out = (None, a.errors[0].message, a)
    else:
        outs = []
        for o in d.outputs:
            e = d.graph.in_edges(o)
            t = a.edge_type(e[0]) if e else None
            if t is None:
                out = (None, f"Block output '{o}' gets no value (what feeds it failed)", a)
                break
            outs.append(t)
        else:
            out = (tuple(outs), None, a)
    if len(registry._types) > 4096:
        registry._types.clear()
    registry._types[key] = out
    return out


def instance_shape(registry: Blocks, name: str, ctx: ShapeContext) -> dict:
    """The instance's output types: its definition run with its input types and parameters,
    `repeat` times in sequence. A problem inside fails the instance, naming the inner node."""
    cyc = registry.cycle(name)
    if cyc:
        ctx.fail("is a block that holds itself (" + " > ".join(cyc) + "): a block cannot "
                 "contain itself, directly or through another block")
    d = registry[name]
    problems = d.problems()
    if problems:
        ctx.fail(f"(block '{name}') {problems[0]}")
    repeat, share = ctx.p.get("repeat", 1), ctx.p.get("share_weights", False)
    if repeat > 1 and len(d.inputs) != len(d.outputs):
        ctx.fail(f"repeats the block '{name}', which has {len(d.inputs)} input(s) and "
                 f"{len(d.outputs)} output(s): a repeated block needs as many outputs as "
                 "inputs, each feeding the next repetition's input at its place")
    ins = tuple(ctx.ins.get(p) for p in d.inputs)  # None: an optional input left unwired
    first = ins
    for r in range(repeat):
        if r and share and ins != first:
            k = next(i for i in range(len(ins)) if ins[i] != first[i])
            ctx.fail(f"shares its weights over {repeat} repetitions, so each must read what "
                     f"the first reads: repetition {r + 1}'s input '{d.inputs[k]}' is "
                     f"{ins[k]}, the first's {first[k]} (turn share_weights off)",
                     d.inputs[k])
        outs, why, _ = inner_types(registry, name, ins, ctx.p)
        if why:
            where = f"(repetition {r + 1} of {repeat}) " if repeat > 1 else ""
            chained = ""
            if r:
                chained = (" — its inputs are repetition " + str(r) + "'s outputs: "
                           + ", ".join(f"'{i}' ← '{o}' {t}"
                                       for i, o, t in zip(d.inputs, d.outputs, ins)))
            ctx.fail(f"{where}> {why}{chained}")
        ins = outs
    return dict(zip(d.outputs, ins))

