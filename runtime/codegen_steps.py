"""The decoders' steps in the standalone Python of a model with blocks (runtime/codegen_blocks):
a Greedy decode node runs its decoder's step (`Compiled.steps[g]`) once per output token.

As in the flat file (codegen.module_source), the step is a method of the model's class,
`<g>_step(tokens so far, *what the model gives it)`, bound to the decode module in
__init__. Its nodes are cut back along the blocks like the forward's: an instance the step
runs (a Decoder layer) is one call of a block class, the same classes the forward uses, so
the step calls `self.decoder(...)` and the state_dict keys stay the app's
(`decoder.self_attention.in_proj_weight`). A block must run wholly in the model or wholly in
one step, and a decode node and its token feedback must sit at the model's top level."""
from __future__ import annotations

from .compile import Compiled, _trace


def _head(n: str) -> str | None:
    head, dot, _ = n.partition(".")
    return head if dot else None


def step_nodes(c: Compiled, g: str) -> list[str]:
    """The nodes of g's step, with all of each instance it runs (as the forward's scope)."""
    step = set(c.analysis.phases.steps[g])
    heads = {_head(n) for n in step} - {None}
    return [n for n in c.analysis.order if n in step or _head(n) in heads]


def step_problem(c: Compiled, model_nodes: list[str]) -> str | None:
    """Why the steps cannot be written as methods over the block classes, or None."""
    outside = {_head(n) for n in model_nodes} - {None}
    for g in c.steps:
        if _head(g) is not None:
            return (f"the decoding loop '{g}' is inside a block; export TorchScript, ONNX or "
                    "the bundle instead")
        fb = c.analysis.phases.feedback[g]
        if _head(fb) is not None:
            return (f"the decoder's token feedback '{fb}' is inside a block; export "
                    "TorchScript, ONNX or the bundle instead")
        both = sorted({_head(n) for n in step_nodes(c, g)} & outside)
        if both:
            return (f"the block '{both[0]}' runs partly in the model and partly in the "
                    f"decoder's step ('{g}'); export TorchScript, ONNX or the bundle instead")
    return None


def _logits(c: Compiled, g: str) -> tuple[str, str]:
    e = c.graph.in_edges(g)[0]
    return (e.src, e.src_port)


def decode_args(c: Compiled) -> dict[str, list[tuple[str, str]]]:
    """Each decode node -> the values its step reads besides the tokens ((node, port) keys,
    in the order of the step's arguments): compile_graph's, traced the same way again."""
    out = {}
    for g in c.steps:
        nodes = c.analysis.phases.steps[g]
        *_, external = _trace(c.graph, c.modules, c.plans, nodes, set(nodes), objective=False,
                              returns=[_logits(c, g)], order=c.analysis.order)
        out[g] = external
    return out


def step_build(c: Compiled, g: str, args: list, names: dict) -> dict:
    """_build_forward's arguments for g's step: its arguments (the tokens so far, named after
    the feedback node, then each value named as the forward names it) and what it returns."""
    fb = c.analysis.phases.feedback[g]
    entry = [(fb, (fb, c.graph.spec(fb).outputs[0].name))]
    for key in args:
        entry.append((names.get(key) or "_".join(key).replace(".", "_"), key))
    return {"entry": entry, "returns": [_logits(c, g)]}


def model_lines(c: Compiled, top, steps: dict, init_lines) -> tuple[list[str], list[str]]:
    """The model class's __init__ lines (the forward's modules, then the steps' not already
    built, then each decode module bound to its step method) and the step methods' lines."""
    init = init_lines(None, top)
    for s in steps.values():
        init += [line for line in init_lines(None, s) if line not in init]
    methods = []
    for g, s in steps.items():
        m = c.modules.get_submodule(g)
        init.append(f"        self.{g}.bind(self.{g}_step, start={m.start!r}, "
                    f"batch_from={m.batch_from!r})")
        body = list(s.forward)
        body[0] = body[0].replace("def forward(", f"def {g}_step(", 1)
        methods += ["", f"    # The decoder, run by {g} once per output token: the tokens so far",
                    "    # and what the encoder gave -> the scores of the next token", *body]
    return init, methods
