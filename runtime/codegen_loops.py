"""The standalone Python of a model's recurrent loops (graph/loops.py): each loop's cell as a
class of its own, written as any model is (runtime/codegen.py: its gates as submodules, a
forward over one step's inputs and the states returning its outputs in port order), and the
loop as our RecurrentLoop (copied into the file like the other ops) built around an instance
of it in the model's __init__. The cell sits at `<loop>.cell` as in the app's model, so the
state_dict keys (`lstm.cell.W_f.weight`) are the app's and its weights file loads."""
from __future__ import annotations

import textwrap

import torch.fx as fx

from .compile import Compiled

LOOP = "ops.RecurrentLoop"


def is_loop(module) -> bool:
    """Whether `module` is a recurrent loop (its cell a compiled GraphModule)."""
    return type(module).__name__ == "RecurrentLoop" and isinstance(
        getattr(module, "cell", None), fx.GraphModule)


def cell_modules(gm) -> list[fx.GraphModule]:
    """The cells of the loops that gm calls (and theirs, nested), each once."""
    out = []
    for node in gm.graph.nodes:
        if node.op == "call_module":
            m = gm.get_submodule(node.target)
            if is_loop(m):
                out += [m.cell, *cell_modules(m.cell)]
    return out


def loop_nodes(c: Compiled) -> list[str]:
    """The model's nodes that are loops and that it runs."""
    called = {node.target for node in c.model.graph.nodes if node.op == "call_module"}
    return [n for n, p in c.plans.items()
            if getattr(p, "target", "") == LOOP and c.graph.module_path(n) in called]


class LoopClasses:
    """The classes of a model's loop cells, named after their block definitions' titles
    without clashing with `taken` (the names the file defines otherwise)."""

    def __init__(self, c: Compiled, taken: set[str]):
        from .codegen import class_name
        from .loops import compile_cell
        self.c = c
        self.texts: list[str] = []
        self.by_node: dict[str, str] = {}
        self.taken = set(taken)
        for n in loop_nodes(c):
            cell, _ = compile_cell(c.graph, c.analysis, n)
            m = c.model.get_submodule(c.graph.module_path(n))
            title = c.graph.blocks[m.block].title  # "LSTM cell (from its gates)": LSTMCell
            base = class_name(title.split("(")[0].strip() or title)
            if not base.endswith("Cell"):
                base += "Cell"
            name, i = base, 2
            while name in self.taken:
                name, i = f"{base}{i}", i + 1
            self.taken.add(name)
            self.by_node[n] = name
            self.texts.append(cell_source(cell, name, c.graph.blocks[m.block].title))

    def constructor(self, n: str) -> str:
        """`RecurrentLoop(LSTMCell(), ...)`: the loop of node n, bound to its cell."""
        m = self.c.model.get_submodule(self.c.graph.module_path(n))
        pad = " " * 12
        args = [f"inputs={m.inputs!r}", f"outputs={m.outputs!r}", f"seq={m.seq!r}",
                f"pairs={m.pairs!r}", f"step_outputs={m.step_outputs!r}",
                f"state_shapes={m.state_shapes!r}", f"block={m.block!r}"]
        return f"RecurrentLoop(\n{pad}{self.by_node[n]}(),\n" + "".join(
            f"{pad}{a},\n" for a in args[:-1]) + f"{pad}{args[-1]})"


def cell_source(cell: Compiled, name: str, title: str) -> str:
    """The cell's class: one time step, its states among its inputs."""
    from .codegen import module_source
    head = f"class {name}(nn.Module):\n"
    text = module_source(cell, name)
    before, _, rest = text.partition(head)
    doc = textwrap.fill(f'"""{title}: one time step (RecurrentLoop runs it over time); '
                        f'inputs {", ".join(cell.inputs)}, returns '
                        f'{", ".join(cell.outputs)}."""', 88, initial_indent="    ",
                        subsequent_indent="    ")
    return before + head + doc + "\n" + rest.partition("\n")[2]
