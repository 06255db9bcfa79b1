"""Training checkpoints: everything a run needs to continue exactly where it stopped.

A checkpoint is a folder:
  model.safetensors      the weights of every node (the compiled modules' state_dict)
  optimizer.safetensors  the optimizer's tensors (Adam's moments, momentum buffers, steps)
  state.safetensors      RNG states and the current epoch's sample order
  trainer.json           step, epoch, position in the epoch, the optimizer's plain values,
                         the run's settings, and under "extra" whatever else the caller keeps
No pickle: tensors go to safetensors, the rest to JSON. Written to a temp folder and swapped in
(graph.fileio.atomic_folder), so a crash mid-save leaves the previous checkpoint whole. Loading
validates every file (trainer.json with pydantic, as project files are; the tensors' names,
types and shapes), so a damaged checkpoint is one CheckpointError naming the file and field.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from graph.fileio import atomic_folder, recover_folder

from .errors import first_line

FORMAT = "layerloom.checkpoint"


class CheckpointError(Exception):
    pass


@dataclass
class Position:
    step: int
    epoch: int  # the epoch in progress (1-based)
    next_index: int  # where in this epoch's order the next batch starts
    samples_total: int


@dataclass
class Snapshot:
    """A checkpoint held in memory (CPU copies), to be written later: the best epoch so far
    is kept this way and written at most every few seconds."""
    model: dict
    optimizer: dict
    plain: dict
    state: dict
    info: dict


def snapshot(modules: torch.nn.Module, optimizer, pos: Position, order: torch.Tensor | None,
             shuffle: torch.Generator, extra: dict | None = None) -> Snapshot:
    model = {k: v.detach().cpu().clone().contiguous() for k, v in modules.state_dict().items()}
    tensors, plain = {}, {}
    if optimizer is not None:
        sd = optimizer.state_dict()
        for pid, st in sd["state"].items():
            for name, v in st.items():
                if isinstance(v, torch.Tensor):
                    tensors[f"{pid}.{name}"] = v.detach().cpu().clone().contiguous()
                else:
                    plain.setdefault(str(pid), {})[name] = v
        plain = {"state": plain, "param_groups": sd["param_groups"]}
    state = {"torch_rng": torch.get_rng_state(), "shuffle_rng": shuffle.get_state()}
    if order is not None:
        state["order"] = order.cpu().clone()
    extra = dict(extra or {})
    info = {"format": FORMAT, "position": asdict(pos), "optimizer": plain}
    if "settings" in extra:
        info["settings"] = extra.pop("settings")
    if extra:  # anything else the caller keeps with the checkpoint
        info["extra"] = extra
    return Snapshot(model, tensors, plain, state, info)


def write(folder: str | os.PathLike, snap: Snapshot) -> None:
    with atomic_folder(folder) as tmp:
        save_file(snap.model, tmp / "model.safetensors", metadata={"format": "layerloom.weights"})
        save_file(snap.optimizer or {"_empty": torch.zeros(0)}, tmp / "optimizer.safetensors")
        save_file(snap.state, tmp / "state.safetensors")
        (tmp / "trainer.json").write_text(json.dumps(snap.info, indent=1))


@dataclass
class Loaded:
    position: Position
    model: dict[str, torch.Tensor]
    optimizer_state: dict | None
    torch_rng: torch.Tensor
    shuffle_rng: torch.Tensor
    order: torch.Tensor | None
    info: dict


# trainer.json, validated as project files are (pydantic: the error names the field) -----------

class _Rec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class PositionRec(_Rec):
    step: int = Field(ge=0)
    epoch: int = Field(ge=1)
    next_index: int = Field(ge=0)
    samples_total: int = Field(ge=0)


class ParamGroupRec(BaseModel):
    # The optimizer's own hyper-parameters (betas, momentum, ...) vary by optimizer: kept as
    # they are; what load() itself relies on is checked.
    model_config = ConfigDict(extra="allow", strict=True)
    params: list[int]
    lr: float = Field(ge=0, allow_inf_nan=False)

    @field_validator("params")
    @classmethod
    def _ids(cls, v: list[int]) -> list[int]:
        if any(i < 0 for i in v):
            raise ValueError("parameter ids must be >= 0")
        if len(set(v)) != len(v):
            raise ValueError("a parameter id appears twice")
        return v


class OptimizerRec(_Rec):
    # The optimizer's plain (non-tensor) state values, by parameter id; its tensors are in
    # optimizer.safetensors.
    state: dict[str, dict[str, Any]] = Field(default_factory=dict)
    param_groups: list[ParamGroupRec] = Field(min_length=1)

    @field_validator("state")
    @classmethod
    def _plain(cls, v: dict) -> dict:
        for pid, values in v.items():
            for name, x in values.items():
                if not (x is None or isinstance(x, (bool, int, float, str))):
                    raise ValueError(f"'{pid}.{name}' must be a number, true/false, a string "
                                     "or null")
        return v


class TrainerRec(_Rec):
    format: Literal["layerloom.checkpoint"]
    position: PositionRec
    optimizer: OptimizerRec | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("optimizer", mode="before")
    @classmethod
    def _no_optimizer(cls, v):
        return None if v == {} else v  # a recipe without an optimizer writes {}


def _field_error(e: ValidationError) -> tuple[str, str]:
    err = e.errors()[0]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
    ctx = err.get("ctx") or {}
    kind = err["type"]
    msg = {"extra_forbidden": "unknown field (a typo?)",
           "missing": "this field is required",
           "greater_than_equal": f"must be >= {ctx.get('ge')}",
           "int_type": "must be a whole number",
           "float_type": "must be a number",
           "dict_type": "must be a JSON object",
           "model_type": "must be a JSON object",
           "list_type": "must be a list",
           "too_short": "must not be empty",
           }.get(kind, err["msg"].removeprefix("Value error, "))
    return where, msg


# Loading ------------------------------------------------------------------------------------

_TENSOR_KEY = re.compile(r"(\d+)\.([A-Za-z_]\w*)")


def _fail(path: Path, message: str, where: str = "") -> CheckpointError:
    return CheckpointError(f"{path}: {where}: {message}" if where else f"{path}: {message}")


def _read_info(path: Path) -> TrainerRec:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise _fail(path, "incomplete checkpoint (trainer.json is missing)") from None
    except UnicodeDecodeError:
        raise _fail(path, "not a text file (trainer.json is JSON)") from None
    except OSError as e:
        raise _fail(path, f"cannot be read: {e.strerror or e}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        cut = "; the file looks cut short" if e.pos >= len(text.rstrip()) else ""
        raise _fail(path, f"not valid JSON: {e.msg}{cut}",
                    f"line {e.lineno}, column {e.colno}") from None
    except RecursionError:
        raise _fail(path, "not valid JSON: nested too deeply") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise _fail(path, f"not a LayerLoom checkpoint (its \"format\" should be \"{FORMAT}\")")
    try:
        return TrainerRec.model_validate(raw)
    except ValidationError as e:
        where, msg = _field_error(e)
        raise _fail(path, msg, where) from None


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(path)
    except FileNotFoundError:
        raise _fail(path, f"incomplete checkpoint ({path.name} is missing)") from None
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise _fail(path, f"not a readable safetensors file ({e})") from None


def _check_state(path: Path, state: dict[str, torch.Tensor], pos: PositionRec) -> None:
    unknown = sorted(set(state) - {"torch_rng", "shuffle_rng", "order"})
    if unknown:
        raise _fail(path, "unknown tensor (a typo?)", unknown[0])
    for key in ("torch_rng", "shuffle_rng"):
        t = state.get(key)
        if t is None:
            raise _fail(path, "this tensor is required", key)
        if t.dtype != torch.uint8 or t.dim() != 1:
            raise _fail(path, f"must be a 1-D uint8 tensor (a random generator's state), found "
                              f"{_kind(t)}", key)
        try:
            torch.Generator().set_state(t)
        except RuntimeError as e:
            raise _fail(path, f"not a random generator's state ({first_line(e)})",
                        key) from None
    order = state.get("order")
    if order is not None:
        if order.dtype != torch.int64 or order.dim() != 1:
            raise _fail(path, f"must be a 1-D int64 tensor, found {_kind(order)}", "order")
        if not torch.equal(order.sort().values, torch.arange(len(order))):
            raise _fail(path, f"must be an order of the samples 0 to {len(order) - 1}, each "
                              "once", "order")
        if pos.next_index > len(order):
            raise _fail(path.with_name("trainer.json"), f"must be <= {len(order)}, the samples "
                        "in the epoch's order", "position.next_index")


def _kind(t: torch.Tensor) -> str:
    return f"{t.dim()}-D {str(t.dtype).replace('torch.', '')}"


def _optimizer_state(folder: Path, rec: TrainerRec, tensors: dict[str, torch.Tensor]):
    info, path = folder / "trainer.json", folder / "optimizer.safetensors"
    if rec.optimizer is None:
        if set(tensors) - {"_empty"}:
            raise _fail(path, "holds optimizer tensors, but trainer.json has no optimizer",
                        sorted(set(tensors) - {"_empty"})[0])
        return None
    ids = [i for g in rec.optimizer.param_groups for i in g.params]
    if len(set(ids)) != len(ids):
        raise _fail(info, "a parameter id is in two groups", "optimizer.param_groups")
    known = set(ids)
    st: dict[int, dict] = {}
    for pid, values in rec.optimizer.state.items():
        if not pid.isdigit() or int(pid) not in known:
            raise _fail(info, "not the id of a parameter in optimizer.param_groups",
                        f"optimizer.state.{pid}")
        st.setdefault(int(pid), {}).update(values)
    for key, v in tensors.items():
        if key == "_empty" and len(tensors) == 1:
            continue
        m = _TENSOR_KEY.fullmatch(key)
        if m is None:
            raise _fail(path, "an optimizer tensor is named <parameter id>.<name>, e.g. "
                              "\"0.exp_avg\"", key)
        pid = int(m.group(1))
        if pid not in known:
            raise _fail(path, f"parameter {pid} is not in trainer.json's "
                              "optimizer.param_groups", key)
        if m.group(2) in st.get(pid, {}):
            raise _fail(path, f"'{m.group(2)}' is also a plain value in trainer.json", key)
        st.setdefault(pid, {})[m.group(2)] = v
    groups = [g.model_dump() for g in rec.optimizer.param_groups]
    return {"state": st, "param_groups": groups}


def load(folder: str | os.PathLike) -> Loaded:
    """Read a checkpoint folder; every problem is one CheckpointError naming the file and the
    field (a damaged checkpoint must not reach the trainer as a KeyError or a traceback)."""
    folder = Path(folder)
    recover_folder(folder)  # a save killed between its two renames, or its leftover temps
    if not folder.is_dir():
        raise _fail(folder, "incomplete checkpoint (no such folder)" if not folder.exists()
                    else "not a checkpoint folder")
    rec = _read_info(folder / "trainer.json")
    model = _read_tensors(folder / "model.safetensors")
    opt_tensors = _read_tensors(folder / "optimizer.safetensors")
    state = _read_tensors(folder / "state.safetensors")
    _check_state(folder / "state.safetensors", state, rec.position)
    optimizer_state = _optimizer_state(folder, rec, opt_tensors)
    return Loaded(Position(**rec.position.model_dump()), model, optimizer_state,
                  state["torch_rng"], state["shuffle_rng"], state.get("order"),
                  rec.model_dump(mode="json"))


def find(path: str | os.PathLike) -> Path:
    """The checkpoint a resume starts from, given a checkpoint folder, a `train --out` folder
    (its `checkpoint`) or a run folder (its `checkpoints/last`); CheckpointError in words
    naming the path when none is there."""
    given, path = Path(path), Path(os.path.abspath(path))  # ('.' has no name to recover by)
    for folder in (path, path / "checkpoint", path / "checkpoints" / "last"):
        if folder.parent.is_dir():
            recover_folder(folder)
        if (folder / "trainer.json").is_file():
            return folder
    if not path.exists():
        raise CheckpointError(f"{given}: no such file or folder")
    raise CheckpointError(f"{given}: no checkpoint there (a checkpoint folder holds "
                          "trainer.json; a `train --out` folder its checkpoint/, a run folder "
                          "its checkpoints/last/)")
