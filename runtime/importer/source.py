"""What `layerloom import` reads: a model from a Python file, and example inputs.

Importing a .py file RUNS it (its top level and the constructor): the CLI's --help and the
app's dialog say so. Every problem is an ImportProblem whose message names the file, the
name or the input at fault, never a traceback.
"""
from __future__ import annotations

import importlib.util
import inspect
import json
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from graph.spec import is_symbol


class ImportProblem(Exception):
    """The import cannot go on; the message says why, in words."""


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple[int, ...]  # batch first
    dtype: str = "float32"  # or "int64": token ids below `high`
    high: int = 2
    # a name per size, where the size is named (`T=7`: the sequence length, free to vary);
    # the Input node keeps the name, the examples use the size
    names: tuple[str | None, ...] = ()

    def sample_shape(self) -> list:
        """The Input node's sample shape: the sizes after the batch, named ones by name."""
        names = self.names or (None,) * len(self.shape)
        return [n or s for s, n in zip(self.shape[1:], names[1:])]

    def example(self, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.dtype == "int64":
            return torch.randint(0, self.high, self.shape, generator=generator)
        return torch.randn(self.shape, generator=generator)


def parse_input(text: str) -> InputSpec:
    """NAME=SHAPE[:DTYPE[:HIGH]], e.g. x=1,3,32,32 or tokens=2,16:int64:1000; a size after
    the batch may be named, SYMBOL=SIZE (x=1,T=7,2: a sequence of any length T, 7 in the
    examples)."""
    name, eq, rest = text.partition("=")
    name = name.strip()
    if not eq or not name.isidentifier():
        raise ImportProblem(f"--input {text!r}: write NAME=SHAPE, e.g. x=1,3,32,32")
    parts = rest.split(":")
    dims = [s.strip() for s in parts[0].split(",") if s.strip()]
    names = tuple(d.partition("=")[0].strip() if "=" in d else None for d in dims)
    try:
        shape = tuple(int(d.partition("=")[2] if "=" in d else d) for d in dims)
    except ValueError:
        raise ImportProblem(f"--input {text!r}: the shape must be whole numbers separated by "
                            "commas, batch first, e.g. 1,3,32,32 (a size may be named: "
                            "1,T=7,2)") from None
    bad = [n for n in names if n is not None and not is_symbol(n)]
    if bad or names[:1] != (None,) * min(1, len(names)):
        raise ImportProblem(f"--input {text!r}: a named size is a capital letter, maybe with a "
                            f"digit or two (T, L, T2), after the batch; not {(bad or ['the batch'])[0]!r}")
    if not shape or any(s < 1 for s in shape):
        raise ImportProblem(f"--input {text!r}: every size must be at least 1, batch first")
    dtype = parts[1].strip() if len(parts) > 1 and parts[1].strip() else "float32"
    if dtype not in ("float32", "int64"):
        raise ImportProblem(f"--input {text!r}: the type must be float32 or int64, not {dtype!r}")
    high = 2
    if len(parts) > 2:
        if dtype != "int64":
            raise ImportProblem(f"--input {text!r}: HIGH (the token ids' bound) needs int64")
        try:
            high = int(parts[2])
        except ValueError:
            raise ImportProblem(f"--input {text!r}: HIGH must be a whole number") from None
        if high < 1:
            raise ImportProblem(f"--input {text!r}: HIGH must be at least 1")
    if len(parts) > 3:
        raise ImportProblem(f"--input {text!r}: write NAME=SHAPE[:DTYPE[:HIGH]]")
    return InputSpec(name, shape, dtype, high, names if any(names) else ())


def _where(e: BaseException, path: Path) -> str:
    """The last line of `path` a traceback passed through, as ' (file.py, line N)'."""
    frames = [f for f in traceback.extract_tb(e.__traceback__) if Path(f.filename) == path]
    return f" ({path.name}, line {frames[-1].lineno})" if frames else ""


def run_file(file: str):
    """Run a .py file as a module (its top level runs: the caller has said so to the user);
    ImportProblem naming the file and line if it fails."""
    path = Path(file).resolve()
    if not path.is_file():
        raise ImportProblem(f"{file}: no such file")
    mod_name = f"layerloom_import_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module  # dataclasses and pickling look modules up here
    sys.path.insert(0, str(path.parent))  # the file may import its neighbours
    try:
        spec.loader.exec_module(module)
    except SystemExit:
        raise ImportProblem(f"{file}: the file exits when run (SystemExit)") from None
    except BaseException as e:  # noqa: BLE001 (the user's code: any error is theirs)
        if isinstance(e, KeyboardInterrupt):
            raise
        raise ImportProblem(f"{file}: running the file failed{_where(e, path)}: "
                            f"{type(e).__name__}: {e}") from None
    finally:
        sys.path.remove(str(path.parent))
    return module


def candidates(module) -> list[str]:
    """What a file defines that may give a model: its nn.Module classes and its functions."""
    own = module.__name__
    return sorted(n for n, v in vars(module).items()
                  if not n.startswith("_") and getattr(v, "__module__", None) == own
                  and (inspect.isclass(v) and issubclass(v, nn.Module) or inspect.isfunction(v)))


def load_module(source: str, init: str | None = None, module=None) -> tuple[nn.Module, str]:
    """`path/file.py:NAME` -> (the module, built and in eval mode, its class's name). `module`:
    the file already run (run_file)."""
    file, colon, name = source.rpartition(":")
    if not colon or not file.endswith(".py"):
        raise ImportProblem(f"{source}: write path/file.py:NAME (a class or a function that "
                            "returns an nn.Module), or give an .onnx file")
    kwargs = {}
    if init:
        try:
            kwargs = json.loads(init)
        except json.JSONDecodeError as e:
            raise ImportProblem(f"--init: not JSON ({e.msg}, at character {e.pos})") from None
        if not isinstance(kwargs, dict):
            raise ImportProblem("--init: give a JSON object of keyword arguments, e.g. "
                                '{"num_classes": 10}')
    module = module or run_file(file)
    path = Path(file).resolve()
    if not name.isidentifier() or not hasattr(module, name):
        found = candidates(module)
        raise ImportProblem(f"{file}: has no {name!r}"
                            + (f"; it defines {', '.join(found)}" if found else ""))
    target = getattr(module, name)
    if not callable(target):
        raise ImportProblem(f"{file}:{name} is not a class or a function")
    try:
        model = target(**kwargs)
    except TypeError as e:
        raise ImportProblem(f"{file}:{name} cannot be built with "
                            f"{'these arguments' if kwargs else 'no arguments'}: {e}"
                            + ("" if kwargs else " (pass them with --init JSON)")) from None
    except Exception as e:  # noqa: BLE001
        raise ImportProblem(f"{file}:{name}: building it failed{_where(e, path)}: "
                            f"{type(e).__name__}: {e}") from None
    if not isinstance(model, nn.Module):
        raise ImportProblem(f"{file}:{name} gave a {type(model).__name__}, not a torch.nn.Module")
    return model.eval(), type(model).__name__
