"""Python source for a compiled model: a plain nn.Module class that reads like hand-written
PyTorch, and a standalone file that needs only torch and safetensors to load and run it."""
from __future__ import annotations

import ast
import functools
import inspect
import keyword
import re
from datetime import date

from graph.spec import BATCH, Make

from . import ops
from .compile import Compiled

_NONE_HINT = re.compile(r";  (?:\w+ = )+None$")
# fx names a call of runtime.ops.f (or of a detection function) runtime_ops_f
_OPS_CALL = re.compile(r"\bruntime_(?:ops|detection_boxes|detection_heads|detection_rpn|detection_masks)_(\w+)\(")


def readable_code(code: str) -> str:
    """gm.code without fx's `;  x = None` memory hints and the blank lines around it."""
    lines = [_NONE_HINT.sub("", line.rstrip()) for line in code.strip("\n").splitlines()]
    return "\n".join(line for line in lines if line.strip()) + "\n"


def class_name(name: str) -> str:
    """A checked identifier from the project's name: ASCII letters and digits only, never a
    keyword (a project named "none" gives `NoneModel`, not `class None`)."""
    words = re.findall(r"[A-Za-z0-9]+", name) or ["Model"]
    s = "".join(w[:1].upper() + w[1:] for w in words)
    s = s if s[0].isalpha() else f"Model{s}"
    return s + "Model" if keyword.iskeyword(s) else s


def is_module_name(stem: str) -> bool:
    """Whether `import <stem>` can name a file of that stem."""
    return stem.isidentifier() and not keyword.iskeyword(stem)


def _value(v) -> str:
    return repr(v)


def constructor(plan: Make) -> str:
    """`nn.Conv2d(in_channels=1, ...)`, or `Perceptron(...)` for our own modules."""
    target = plan.target[len("ops."):] if plan.target.startswith("ops.") else plan.target
    args = ", ".join(f"{k}={_value(v)}" for k, v in plan.kwargs.items())
    return f"{target}({args})"


def _op_modules() -> tuple:
    """The modules whose definitions the standalone file copies: runtime.ops and the
    detection functions it re-exports."""
    from .detection import boxes, heads, masks, rpn
    return ops, boxes, heads, rpn, masks


@functools.lru_cache(maxsize=None)
def _ops_defs() -> dict[str, object]:
    """The functions, classes and constants those modules define themselves (not what they
    import), by name."""
    out: dict[str, object] = {}
    for mod in _op_modules():
        for name, obj in vars(mod).items():
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and \
                    obj.__module__ == mod.__name__:
                out.setdefault(name, obj)
            elif mod is not ops and (name == "_tv" or (
                    (name.isupper() or name.startswith("_") and name[1:].isupper())
                    and isinstance(obj, (int, float, str, tuple)))):
                out.setdefault(name, obj)
    return out


def _source(name: str) -> str:
    obj = _ops_defs()[name]
    if inspect.isfunction(obj) or inspect.isclass(obj):
        return inspect.getsource(obj).rstrip()
    if name == "_tv":  # torchvision's kernels where they import: this file uses torch's
        return "_tv = None  # torchvision's kernels are not used here: plain torch"
    return f"{name} = {obj!r}"


@functools.lru_cache(maxsize=None)
def _needs(name: str) -> frozenset[str]:
    """The other names the source of <name> reads: the helpers it calls (ops.LSTM's
    _to_torch_state, Perceptron's step), a base class, a constant; never what its docstring
    merely mentions."""
    defs = _ops_defs()
    if not (inspect.isfunction(defs[name]) or inspect.isclass(defs[name])):
        return frozenset()
    tree = ast.parse(inspect.getsource(defs[name]))
    return frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
                     and isinstance(n.ctx, ast.Load) and n.id in defs and n.id != name)


def _op_order(n: str):
    return (n != "step", n)


def used_ops(c: Compiled) -> list[str]:
    """Names from runtime.ops the model needs (functions called, modules built), with every
    helper their sources use, each after what it needs: the standalone file defines them in
    this order."""
    names = set(_OPS_CALL.findall(c.model.code))
    for step in c.steps.values():
        names |= set(_OPS_CALL.findall(step.code))
    for n, plan in c.plans.items():
        if n in _model_modules(c) and isinstance(plan, Make) and plan.target.startswith("ops."):
            names.add(plan.target[len("ops."):])
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for dep in sorted(_needs(name), key=_op_order):
            visit(dep)
        order.append(name)

    for name in sorted(names, key=_op_order):
        visit(name)
    return order


def example_lengths(c: Compiled, batch: int = 2) -> dict[str, int]:
    """A concrete length for each size the data sets (an Input shaped ['T', 2]), in order of
    first appearance: 5, 6, 7, ... (never the batch size, and distinct, so an exporter that
    tracks sizes cannot take two of them, or one and the batch, for the same size)."""
    lengths: dict[str, int] = {}
    for n in c.inputs:
        t = c.analysis.out_type(n, c.graph.spec(n).value_port)
        for d in t.shape[1:]:
            if isinstance(d, str) and d not in lengths:
                taken = {batch, *lengths.values()}
                lengths[d] = next(v for v in range(5, 5 + len(taken) + 1) if v not in taken)
    return lengths


def example_shapes(c: Compiled, batch: int = 2,
                   lengths: dict[str, int] | None = None) -> list[tuple[tuple[int, ...], str]]:
    """(shape, dtype) of an example for each Input: `batch` samples, each size the data sets
    given its length from `lengths` (by name; the rest from example_lengths)."""
    lengths = {**example_lengths(c, batch), **(lengths or {})}
    out = []
    for n in c.inputs:
        t = c.analysis.out_type(n, c.graph.spec(n).value_port)
        dims = tuple(lengths[d] if isinstance(d, str) else d for d in t.shape[1:])
        out.append(((batch, *dims), t.dtype))
    return out


def symbolic_axes(c: Compiled) -> dict[str, dict[int, str]]:
    """For each Input, its axes of data-set size: {input: {0: 'N', 1: 'T'}} (the batch too)."""
    out = {}
    for n in c.inputs:
        t = c.analysis.out_type(n, c.graph.spec(n).value_port)
        out[n] = {0: BATCH, **{i: d for i, d in enumerate(t.shape) if i and isinstance(d, str)}}
    return out


def model_class_name(c: Compiled, name: str) -> str:
    """A class name from the project's name that clashes with nothing the file defines."""
    cls = class_name(name)
    return cls + "Model" if cls in set(used_ops(c)) | _FILE_NAMES else cls


# Names the standalone file defines or imports at module level.
_FILE_NAMES = {"F", "nn", "np", "torch", "load", "load_file", "functools", "math", "operator", "Path",
               "PROJECT", "WEIGHTS_FILE", "VOCAB"}


def _model_modules(c: Compiled) -> set[str]:
    """The modules the inference model runs: its own and its decoders' steps'."""
    names = set(c.model._modules)
    for step in c.steps.values():
        names |= set(step._modules)
    return names


def _body(code: str) -> list[str]:
    """readable_code(code) as class-body lines: the helpers called by their own names, and a
    value named like a helper that the code calls (a node 'reshape' calling reshape()) given
    a trailing underscore, so it does not shadow it."""
    body = readable_code(code).strip("\n").splitlines()
    called = set(_OPS_CALL.findall(code))
    values = set(re.findall(r"^\s*(\w+) = ", code, re.M))
    rename = {}
    for v in sorted(called & values):
        new = v + "_"
        while new in values or new in called:
            new += "_"
        rename[v] = new
        values.add(new)
    if rename:
        word = re.compile(r"(?<![.\w])(" + "|".join(map(re.escape, rename)) + r")\b")
        body = [word.sub(lambda m: rename[m.group(1)], line) for line in body]
    return ["    " + _OPS_CALL.sub(lambda m: f"{m.group(1)}(", line) for line in body]


def module_source(c: Compiled, name: str = "Model") -> str:
    """The model as an nn.Module class: submodules named after their nodes.

    No user text reaches the code but checked identifiers: the class name comes from
    class_name(), node ids are checked by the graph, params go through repr(). The docstring
    names only the input and output nodes (identifiers too)."""
    lines = [f"class {model_class_name(c, name)}(nn.Module):",
             f'    """Inputs: {", ".join(c.inputs) or "none"}; returns '
             f'{", ".join(c.outputs) or "nothing"}."""', "",
             "    def __init__(self):", "        super().__init__()"]
    used = _model_modules(c)
    for n in c.module_order:
        plan = c.plans.get(n)
        if isinstance(plan, Make) and n in used:
            lines.append(f"        self.{n} = {constructor(plan)}")
    for g in c.steps:  # the decode loop runs the decoder's step, a method below
        m = c.modules.get_submodule(g)
        lines.append(f"        self.{g}.bind(self.{g}_step, start={m.start!r}, "
                     f"batch_from={m.batch_from!r})")
    lines.append("")
    lines += _body(c.model.code)
    for g, step in c.steps.items():
        body = _body(step.code)
        body[0] = body[0].replace("def forward(", f"def {g}_step(", 1)
        lines += ["", f"    # The decoder, run by {g} once per output token: the tokens so far",
                  "    # and what the encoder gave -> the scores of the next token", *body]
    return "\n".join(lines) + "\n"


def standalone_file(c: Compiled, name: str, weights_file: str, module: str | None = None,
                    vocab: list[str] | None = None) -> str:
    """A Python file with the model class, the helpers it uses, and `load()`.

    `name` (the project's name) and `weights_file` (the weights' file name, found next to this
    file when it runs) are user text: they appear only as repr() literals. `module` is the
    file's own stem; the usage line names it only when it is an importable identifier."""
    cls = model_class_name(c, name)
    helpers = "\n\n\n".join(_source(n) for n in used_ops(c))
    numpy = "import numpy as np\n" if re.search(r"\bnp\.", helpers) else ""
    shapes = []
    for shape, dtype in example_shapes(c, 2):  # sizes the data sets (['T', 2]): 5, 6, ...
        dims = ", ".join(str(d) for d in shape)
        maker = ("torch.zeros" if dtype == "int64" else "torch.rand")  # token 0 is always valid
        kind = ", dtype=torch.long" if dtype == "int64" else ""
        shapes.append(f"{maker}({dims}{kind})")
    example = ", ".join(shapes)
    lengths = example_lengths(c, 2)
    named = all(k.isascii() and k.isidentifier() for k in lengths)  # is_symbol's names
    sizes = ("  # " + ", ".join(f"{k} = {v}" for k, v in lengths.items())
             + "; other lengths work too"
             if lengths and named else "")
    usage = (f"    from {module} import load\n    model = load()  # the weights beside this file\n"
             if module and is_module_name(module) else
             "    model = load()  # the weights beside this file\n")
    helper_block = helpers + "\n\n\n" if helpers else ""
    vocab_block = ("# The tokens: VOCAB[i] is what token id i stands for (the dataset's vocabulary)\n"
                   f"VOCAB = {vocab!r}\n" if vocab else "")
    return f'''"""A model exported by LayerLoom on {date.today().isoformat()} (its project: PROJECT).

A plain PyTorch module. It needs only torch and safetensors:

{usage}    y = model({", ".join(c.inputs)})
"""
import functools
import math
import operator
from pathlib import Path

{numpy}import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file

PROJECT = {name!r}
WEIGHTS_FILE = {weights_file!r}  # next to this file
{vocab_block}

{helper_block}{module_source(c, name)}

def load(weights: str | None = None, device: str = "cpu") -> {cls}:
    """The model with its trained weights (safetensors: no pickle), in eval mode. By default
    the weights are WEIGHTS_FILE in this file's folder, whatever the current directory."""
    if weights is None:
        weights = Path(__file__).resolve().parent / WEIGHTS_FILE
    model = {cls}()
    model.load_state_dict(load_file(str(weights), device=device))
    return model.to(device).eval()


if __name__ == "__main__":
    import sys
    model = load(sys.argv[1] if len(sys.argv) > 1 else None)
    with torch.no_grad():
        out = model({example}){sizes}
    outs = out if isinstance(out, tuple) else (out,)
    print("outputs:", ", ".join(str(tuple(o.shape)) for o in outs))
'''
