"""Python source for a compiled model: a plain nn.Module class that reads like hand-written
PyTorch, and a standalone file that needs only torch and safetensors to load and run it."""
from __future__ import annotations

import ast
import functools
import inspect
import keyword
import re
import symtable
import sys
import textwrap
from datetime import date

import torch.fx as fx

from graph.spec import BATCH, Make, NodeRole

from .compile import OPS, Compiled, Noise
from .ops import sample_noise

_NONE_HINT = re.compile(r";  (?:\w+ = )+None$")


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


def constructor(plan: Make) -> str:
    """`nn.Conv2d(in_channels=1, ...)`, or `Perceptron(...)` for our own modules."""
    target = plan.target[len("ops."):] if plan.target.startswith("ops.") else plan.target
    args = ", ".join(f"{k}={v!r}" for k, v in plan.kwargs.items())
    return f"{target}({args})"


def _from_torch(obj) -> bool:
    """Whether torch defines `obj`: the standalone file reaches it through its imports (fx
    writes such a call as torch.relu(...), a module as nn.Linear)."""
    module = getattr(obj, "__module__", None) or ""
    return module == "torch" or module.startswith("torch.")


def _calls(gm: fx.GraphModule) -> tuple[str, dict[str, object]]:
    """gm's forward as fx writes it, and the functions it calls under a name fx made, by that
    name. fx writes a call of torch as torch.relu(...) and of operator as `a + b` or `x[0]`;
    any other call_function target becomes a global of the code, named after its module and
    name (runtime.detection.boxes.roi_pool: runtime_detection_boxes_roi_pool). The standalone
    file defines those functions under their own names."""
    graph = gm.graph if isinstance(gm, fx.GraphModule) else gm  # (a block's: a graph)
    code = graph.python_code(root_module="self")
    targets = {id(node.target) for node in graph.nodes if node.op == "call_function"}
    return code.src, {name: obj for name, obj in code.globals.items() if id(obj) in targets}


def _used(c: Compiled) -> dict[str, object]:
    """What the inference model's code names that the standalone file must define, by name:
    the functions its forward and its decoders' steps call, and the classes of its modules
    that are not torch's (Perceptron, LSTM, GreedyDecode)."""
    from .codegen_loops import cell_modules
    out: dict[str, object] = {}
    models = (c.model, *c.steps.values())
    for gm in (*models, *(cell for gm in models for cell in cell_modules(gm))):
        out.update((obj.__name__, obj) for obj in _calls(gm)[1].values())
        for node in gm.graph.nodes:
            if node.op == "call_module":
                cls = type(gm.get_submodule(node.target))
                if not _from_torch(cls):
                    out[cls.__name__] = cls
    return out


# The detection modules' accelerations, where their libraries import: the standalone file
# needs only torch and safetensors, so there they are None and the functions take their
# plain-torch paths (the ones TorchScript exports run).
_NOT_COPIED = {"_tv": "torchvision's kernels are not used here: plain torch",
               "_np": "numpy is not used here: the loops are plain torch"}


def _copied(name: str, obj) -> bool:
    """Whether the standalone file defines `name` (= obj) when a copied source reads it: a
    function or class of this package (runtime), a constant (NAME or _NAME: a number, text,
    a tuple), or an acceleration it sets to None; not a module it imports (torch, F, math)."""
    if name in _NOT_COPIED:
        return True
    if inspect.isfunction(obj) or inspect.isclass(obj):
        return obj.__module__.partition(".")[0] == __name__.partition(".")[0]
    return (name.isupper() or name.startswith("_") and name[1:].isupper()) and \
        isinstance(obj, (int, float, str, tuple))


def _global_names(source: str) -> set[str]:
    """The global names a definition's source reads, in any of its scopes (its methods', its
    comprehensions'): not its locals (Attention.forward's variable `step` is not the function
    step), nor what its docstring merely mentions."""
    names, tables = set(), [symtable.symtable(source, "<op>", "exec")]
    while tables:
        table = tables.pop()
        tables += table.get_children()
        names |= {s.get_name() for s in table.get_symbols()
                  if s.is_referenced() and s.is_global()}
    return names


@functools.lru_cache(maxsize=None)
def _reads(obj) -> tuple[tuple[str, object], ...]:
    """What the source of a function or class reads that the standalone file defines too (see
    _copied): the helpers it calls (LSTM's _to_torch_state, Perceptron's step), a base class,
    a constant; each (name, value) as the module that defines `obj` has it."""
    if not (inspect.isfunction(obj) or inspect.isclass(obj)):
        return ()
    scope = vars(sys.modules[obj.__module__])
    names = _global_names(textwrap.dedent(inspect.getsource(obj)))
    return tuple(sorted((n, scope[n]) for n in names - {obj.__name__}
                        if n in scope and _copied(n, scope[n])))


def _op_order(n: str):
    return (n != "step", n)


def _with_helpers(roots: dict[str, object]) -> dict[str, object]:
    """`roots` and everything their sources read (see _reads), each after what it reads: the
    order the standalone file defines them in. Two things of one name cannot both be defined
    there: that raises ValueError."""
    order: dict[str, object] = {}

    def visit(name: str, obj) -> None:
        if name in order:
            if order[name] is not obj:
                raise ValueError(f"the standalone file would define {name} twice: "
                                 f"{_where(order[name])} and {_where(obj)}")
            return
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__qualname__ != name:
            raise ValueError(f"{_where(obj)}: not a module-level definition to copy")
        for dep, value in sorted(_reads(obj), key=lambda item: _op_order(item[0])):
            visit(dep, value)
        order[name] = obj

    for name in sorted(roots, key=_op_order):
        visit(name, roots[name])
    return order


def _where(obj) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', obj)}"


@functools.lru_cache(maxsize=None)
def _ops_defs() -> dict[str, object]:
    """Everything the standalone file may copy, by name: what compile's op table names
    ("ops.*"), with everything their sources read (what tests check is self-contained)."""
    return _with_helpers(OPS)


def _source(name: str, obj) -> str:
    if inspect.isfunction(obj) or inspect.isclass(obj):
        return inspect.getsource(obj).rstrip()
    if name in _NOT_COPIED:
        return f"{name} = None  # {_NOT_COPIED[name]}"
    return f"{name} = {obj!r}"


def _definitions(c: Compiled) -> dict[str, object]:
    """What the standalone file defines for the model, by name, in order (see used_ops)."""
    return _with_helpers(_used(c))


def used_ops(c: Compiled) -> list[str]:
    """The names the standalone file defines for the model: the functions its code calls and
    the classes of its modules that torch lacks, found in its GraphModules, with every helper
    their sources use, each after what it needs (the order the file defines them in)."""
    return list(_definitions(c))


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
_FILE_NAMES = {"F", "nn", "torch", "load", "load_file", "functools", "math", "operator", "Path",
               "PROJECT", "WEIGHTS_FILE", "VOCAB", "CLASSES", "draw_noise", "sample_noise"}


def _model_modules(c: Compiled) -> set[str]:
    """The modules the inference model runs: its own and its decoders' steps'."""
    names = set(c.model._modules)
    for step in c.steps.values():
        names |= set(step._modules)
    return names


def _body(gm: fx.GraphModule) -> list[str]:
    """gm's forward (readable_code) as class-body lines: each helper called by its own name
    rather than fx's, and a value named like a helper the code calls (a node 'reshape'
    calling reshape()) given a trailing underscore, so it does not shadow it."""
    code, calls = _calls(gm)
    code = readable_code(code)
    tree = ast.parse(code)
    called = {obj.__name__ for obj in calls.values()}
    values = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
              and isinstance(n.ctx, ast.Store)}
    rename = {fx_name: obj.__name__ for fx_name, obj in calls.items()}
    for v in sorted(called & values):
        new = v + "_"
        while new in values or new in called:
            new += "_"
        rename[v] = new
        values.add(new)
    return ["    " + line for line in _renamed(code, tree, rename).strip("\n").splitlines()]


def _renamed(code: str, tree: ast.AST, names: dict[str, str]) -> str:
    """`code` (parsed as `tree`) with each variable in `names` renamed; an attribute
    (self.reshape), a keyword argument (shape=) or a string is never a variable."""
    lines = [line.encode() for line in code.splitlines(keepends=True)]
    spots = sorted(((n.lineno, n.col_offset, n.end_col_offset, names[n.id])
                    for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in names),
                   reverse=True)  # right to left: the offsets (in bytes) stay right
    for row, start, end, new in spots:
        line = lines[row - 1]
        lines[row - 1] = line[:start] + new.encode() + line[end:]
    return b"".join(lines).decode()


def module_source(c: Compiled, name: str = "Model") -> str:
    """The model as an nn.Module class: submodules named after their nodes.

    No user text reaches the code but checked identifiers: the class name comes from
    class_name(), node ids are checked by the graph, params go through repr(). The docstring
    names only the input and output nodes (identifiers too)."""
    if c.containers:  # blocks: one class per definition (runtime/codegen_blocks.py)
        from .codegen_blocks import module_source as with_blocks
        return with_blocks(c, name)
    from .codegen_loops import LOOP, LoopClasses
    cls = model_class_name(c, name)
    loops = LoopClasses(c, set(used_ops(c)) | _FILE_NAMES | {cls})  # a cell's class each
    lines = [f"class {cls}(nn.Module):",
             f'    """Inputs: {", ".join(c.inputs) or "none"}; returns '
             f'{", ".join(c.outputs) or "nothing"}."""', "",
             "    def __init__(self):", "        super().__init__()"]
    used = _model_modules(c)
    for n in c.module_order:
        plan = c.plans.get(n)
        if isinstance(plan, Make) and n in used:
            made = loops.constructor(n) if plan.target == LOOP else constructor(plan)
            lines.append(f"        self.{n} = {made}")
    for g in c.steps:  # the decode loop runs the decoder's step, a method below
        m = c.modules.get_submodule(g)
        lines.append(f"        self.{g}.bind(self.{g}_step, start={m.start!r}, "
                     f"batch_from={m.batch_from!r})")
    lines.append("")
    lines += _body(c.model)
    for g, step in c.steps.items():
        body = _body(step)
        body[0] = body[0].replace("def forward(", f"def {g}_step(", 1)
        lines += ["", f"    # The decoder, run by {g} once per output token: the tokens so far",
                  "    # and what the encoder gave -> the scores of the next token", *body]
    return "".join(t + "\n\n" for t in loops.texts) + "\n".join(lines) + "\n"


# A Noise node's distributions (its `distribution` choices), as its documentation writes them
_NOISE_TEXT = {"normal": "z ~ N(0, I)", "uniform": "each entry ~ U(−1, 1)"}


def noise_inputs(c: Compiled) -> dict[str, Noise]:
    """The Inputs that are noise (a generator's z), with what their node draws (shape,
    distribution): what the model was trained on, so what its user must draw."""
    return {n: Noise.of(c.graph, n) for n in c.inputs
            if c.graph.spec(n).role == NodeRole.NOISE}


def _in_docstring(text: str) -> str:
    """`text` inside a triple-quoted (not raw) docstring whose value is `text` exactly: no
    backslash or quote of it can end the docstring or start an escape."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _noise_call(n: str, noise: Noise) -> str:
    return f"sample_noise({n}, {list(noise.shape)!r}, {noise.distribution!r})"


def _draw_noise(noise: dict[str, Noise]) -> str:
    """`draw_noise(n)`: the generator's input(s) drawn as in training."""
    texts = "; ".join(f"{k}: n × {' × '.join(map(str, p.shape))}, "
                      f"{_NOISE_TEXT.get(p.distribution, p.distribution)}"
                      for k, p in noise.items())
    calls = ", ".join(_noise_call("n", p) for p in noise.values())
    many = len(noise) > 1
    return (f"def draw_noise(n: int){' -> tuple' if many else ' -> torch.Tensor'}:\n"
            f'    """n samples of the noise the generator was trained on ({texts})."""\n'
            f"    return {f'({calls})' if many else calls}\n")


def _inputs_doc(c: Compiled, vocab, classes, notes: dict[str, str]) -> str:
    """The docstring's account of the inputs and what the outputs' classes are."""
    noise = noise_inputs(c)
    lines = []
    for n in c.inputs:
        t = c.analysis.out_type(n, c.graph.spec(n).value_port)
        if n in noise:
            p = noise[n]
            what = (f"noise as in training: "
                    f"{_NOISE_TEXT.get(p.distribution, p.distribution)}; "
                    f"draw_noise(N) draws it")
        elif n in notes:
            what = notes[n]
        elif vocab and t.dtype == "int64":
            what = "token ids: VOCAB[i] is the text of token i"
        else:
            what = ""
        lines += textwrap.wrap(f"{n}: {t}{', ' + what if what else ''}", 88,
                               initial_indent="    ", subsequent_indent="        ")
    text = "Inputs (N samples at a time):\n" + "\n".join(lines) + "\n"
    if classes:
        text += ("\nThe classes: CLASSES[i] is the name of class i (the index of its score "
                 "in the output).\n")
    return text


def standalone_file(c: Compiled, name: str, weights_file: str, module: str | None = None,
                    vocab: list[str] | None = None, classes: list[str] | None = None,
                    input_notes: dict[str, str] | None = None) -> str:
    """A Python file with the model class, the helpers it uses, and `load()`.

    `name` (the project's name) and `weights_file` (the weights' file name, found next to this
    file when it runs) are user text: they appear only as repr() literals (the docstring
    holds the project's as repr() writes it, escaped). `module` is the file's own stem; the
    usage line names it only when it is an importable identifier. `classes`: the names of
    the classes, by index (from the data); `input_notes`: for an Input, what its values
    are (how the data made them), said in the docstring."""
    cls = model_class_name(c, name)
    noise = noise_inputs(c)
    defs = _definitions(c)
    if noise:  # draw_noise calls it
        defs.setdefault("sample_noise", sample_noise)
    helpers = "\n\n\n".join(_source(n, obj) for n, obj in defs.items())
    shapes = []
    for n, (shape, dtype) in zip(c.inputs, example_shapes(c, 2)):  # sizes the data sets
        dims = ", ".join(str(d) for d in shape)                      # (['T', 2]): 5, 6, ...
        if n in noise:  # as the generator was trained
            shapes.append(_noise_call("2", noise[n]))
            continue
        maker = ("torch.zeros" if dtype == "int64" else "torch.rand")  # token 0 is always valid
        kind = ", dtype=torch.long" if dtype == "int64" else ""
        shapes.append(f"{maker}({dims}{kind})")
    example = ", ".join(shapes)
    if noise and len(noise) == len(c.inputs):
        example = "draw_noise(2)" if len(noise) == 1 else "*draw_noise(2)"
    call = ", ".join(c.inputs)
    if noise and len(noise) == len(c.inputs):
        call = "draw_noise(16)" if len(noise) == 1 else "*draw_noise(16)"
    lengths = example_lengths(c, 2)
    named = all(k.isascii() and k.isidentifier() for k in lengths)  # is_symbol's names
    sizes = ("  # " + ", ".join(f"{k} = {v}" for k, v in lengths.items())
             + "; other lengths work too"
             if lengths and named else "")
    usage = (f"    from {module} import load\n    model = load()  # the weights beside this file\n"
             if module and is_module_name(module) else
             "    model = load()  # the weights beside this file\n")
    helper_block = helpers + "\n\n\n" if helpers else ""
    if noise:
        helper_block += _draw_noise(noise) + "\n\n"
    vocab_block = ("# The tokens: VOCAB[i] is what token id i stands for (the dataset's vocabulary)\n"
                   f"VOCAB = {vocab!r}\n" if vocab else "")
    classes_block = ("# The classes: CLASSES[i] is the name of class i (the data's, in index "
                     f"order)\nCLASSES = {list(classes)!r}\n" if classes else "")
    inputs_doc = _in_docstring(_inputs_doc(c, vocab, classes, input_notes or {}))
    project = _in_docstring(repr(name))
    return f'''"""A model exported by LayerLoom on {date.today().isoformat()} from the project {project}.

A plain PyTorch module. It needs only torch and safetensors:

{usage}    y = model({call})

{inputs_doc}"""
import functools
import math
import operator
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file

PROJECT = {name!r}
WEIGHTS_FILE = {weights_file!r}  # next to this file
{vocab_block}{classes_block}

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
