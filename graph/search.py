"""A project's search space (issue 29): the node parameters and training settings a sweep
(runtime/sweep.py, `layerloom sweep`) may vary, saved in the project file as

    "search": [{"target": "fc1.out_features", "kind": "int", "low": 16, "high": 128},
               {"target": "training.lr", "kind": "float", "low": 0.0001, "high": 0.1,
                "log": true},
               {"target": "training.optimizer", "kind": "categorical",
                "choices": ["adam", "minibatch"]}]

A target is `node.param` (a node of the graph and one of its parameters) or
`training.setting` (a field of TrainingSettings; `training.` always means the settings). A
range (float or int, linear or log) or a list of choices; each bound and choice is checked
as the parameter or setting itself would check it. No torch, no Qt.
"""
from __future__ import annotations

import json
import typing
from typing import Any, Literal

from pydantic import (BaseModel, ConfigDict, Field, StrictFloat, StrictInt, ValidationError,
                      model_validator)

from .model import Graph, GraphError
from .settings import TrainingSettings

SETTINGS = "training"  # the prefix of a target naming a training setting
Scalar = str | bool | StrictInt | StrictFloat | None


class SearchError(ValueError):
    """A search entry or a value for it that cannot be used; str() names the entry."""


class SearchEntry(BaseModel):
    """One searchable target: a range (kind float or int; log: sampled on a log scale) or a
    list of choices (kind categorical)."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = Field(pattern=r"^[^.\s]+\.[^.\s]+$", description=(
        "node.param (e.g. fc1.out_features) or training.setting (e.g. training.lr)."))
    kind: Literal["float", "int", "categorical"]
    low: StrictInt | StrictFloat | None = None
    high: StrictInt | StrictFloat | None = None
    log: bool = False
    choices: list[Scalar] | None = Field(None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _consistent(self):
        t = f"'{self.target}'"
        if self.kind == "categorical":
            if self.choices is None:
                raise ValueError(f"{t}: a categorical entry needs its choices (a list)")
            if self.low is not None or self.high is not None or self.log:
                raise ValueError(f"{t}: a categorical entry takes choices, not low, high or log")
            if len({json.dumps(c) for c in self.choices}) != len(self.choices):
                raise ValueError(f"{t}: a choice appears twice in {self.choices}")
            return self
        if self.choices is not None:
            raise ValueError(f"{t}: a {self.kind} range takes low and high, not choices "
                             "(use kind 'categorical' for a list)")
        if self.low is None or self.high is None:
            raise ValueError(f"{t}: a {self.kind} range needs both low and high")
        if not self.low < self.high:
            raise ValueError(f"{t}: low ({self.low}) must be below high ({self.high})")
        if self.kind == "int" and not (_whole(self.low) and _whole(self.high)):
            raise ValueError(f"{t}: an int range needs whole numbers (got {self.low}, "
                             f"{self.high})")
        if self.log and not self.low > 0:
            raise ValueError(f"{t}: a log range needs low > 0 (got {self.low})")
        return self

    def to_dict(self) -> dict:
        """As the project file writes it: a range without choices, a list without bounds."""
        if self.kind == "categorical":
            return {"target": self.target, "kind": self.kind, "choices": list(self.choices)}
        lo, hi = (int(v) if self.kind == "int" else v for v in (self.low, self.high))
        return {"target": self.target, "kind": self.kind, "low": lo, "high": hi,
                **({"log": True} if self.log else {})}

    def describe(self) -> str:
        if self.kind == "categorical":
            return f"{self.target} in {{{', '.join(json.dumps(c) for c in self.choices)}}}"
        return (f"{self.target} in [{self.low}, {self.high}]"
                f"{' (log)' if self.log else ''}{' (int)' if self.kind == 'int' else ''}")


def _whole(v) -> bool:
    return isinstance(v, int) or float(v).is_integer()


def split_target(target: str) -> tuple[str, str]:
    node, _, name = target.partition(".")
    return node, name


# What a target accepts ----------------------------------------------------------------------

def _setting_kind(name: str) -> str | None:
    """'int', 'float' or 'other' for a TrainingSettings field (None: no such field)."""
    f = TrainingSettings.model_fields.get(name)
    if f is None:
        return None
    args = typing.get_args(f.annotation) or (f.annotation,)
    if typing.get_origin(f.annotation) is Literal:
        return "other"
    if float in args:
        return "float"
    if int in args and bool not in args:
        return "int"
    return "other"


def target_kind(graph: Graph, target: str) -> str:
    """'int', 'float' or 'other': what kind of value `target` takes. Raises SearchError when
    it names no node, no parameter or no setting."""
    node, name = split_target(target)
    if node == SETTINGS:
        kind = _setting_kind(name)
        if kind is None or name not in searchable_settings():
            what = (f"there is no training setting '{name}'" if kind is None else
                    f"the training setting '{name}' is not searched (it changes where or how "
                    "fast a run trains, or is not one value)")
            raise SearchError(f"{what} (searchable: {', '.join(searchable_settings())})")
        return kind
    if node not in graph:
        raise SearchError(f"there is no node '{node}'")
    spec = graph.spec(node)
    try:
        p = spec.param(name)
    except KeyError:
        names = ", ".join(p.name for p in spec.params) or "none"
        raise SearchError(f"{spec.title} '{node}' has no parameter '{name}' (it has: {names})"
                          ) from None
    return p.kind if p.kind in ("int", "float") else "other"


def searchable_settings() -> list[str]:
    return [n for n in TrainingSettings.model_fields
            if n not in ("optimizers", "initial_weights", "best_metric", "device",
                         "processes", "compile")]  # a sweep's trials run in one process


def value_problem(graph: Graph, training: TrainingSettings, target: str, value: Any
                  ) -> str | None:
    """None if `target` may take `value`, else why not (as the parameter or setting says)."""
    node, name = split_target(target)
    if node == SETTINGS:
        try:
            training.model_copy().__setattr__(name, value)  # validate_assignment
        except ValidationError as e:
            return e.errors()[0]["msg"]
        return None
    return graph.param_problem(node, name, value)


def entry_problem(graph: Graph, training: TrainingSettings, e: SearchEntry) -> str | None:
    """None if the entry fits the project, else why not (without the entry's place)."""
    try:
        kind = target_kind(graph, e.target)
    except SearchError as err:
        return str(err)
    if e.kind != "categorical" and (kind == "other" or (kind == "int" and e.kind == "float")):
        what = {"int": "whole numbers", "other": "no range of numbers"}[kind]
        hint = " (use kind 'int')" if kind == "int" else " (give its choices, kind " \
                                                         "'categorical')"
        article = "an" if e.kind == "int" else "a"
        return f"takes {what}, so {article} {e.kind} range does not fit it{hint}"
    values = list(e.choices) if e.kind == "categorical" else [e.low, e.high]
    if e.kind == "int":
        values = [int(v) for v in values]
    for v in values:
        why = value_problem(graph, training, e.target, v)
        if why:
            return f"the value {json.dumps(v)}: {why}"
    return None


def check_search(graph: Graph, training: TrainingSettings, entries: list[SearchEntry]
                 ) -> tuple[str, str] | None:
    """The first problem of a project's search entries as (where, message), where naming the
    entry ("search[1] ('fc1.out_features')"); None when they all fit."""
    seen: set[str] = set()
    for i, e in enumerate(entries):
        where = f"search[{i}] ('{e.target}')"
        if e.target in seen:
            return where, "the target appears twice in the search space"
        seen.add(e.target)
        why = entry_problem(graph, training, e)
        if why:
            return where, why
    return None


# Values, from the command line and into a project -------------------------------------------

def parse_entry(text: str, graph: Graph) -> SearchEntry:
    """`TARGET=LOW..HIGH[:log][:int]` (the kind follows the target unless :int says so) or
    `TARGET=a,b,c` (choices: numbers, true/false/null as JSON, anything else as text).
    Raises SearchError naming the text."""
    target, eq, rest = text.partition("=")
    target, rest = target.strip(), rest.strip()
    if not eq or not target or not rest:
        raise SearchError(f"--search {text!r}: expected TARGET=LOW..HIGH[:log|:int] or "
                          "TARGET=a,b,c")
    try:
        if ".." in rest:
            bounds, *flags = rest.split(":")
            bad = [f for f in flags if f not in ("log", "int")]
            if bad:
                raise SearchError(f"unknown flag ':{bad[0]}' (use :log or :int)")
            lo_text, _, hi_text = bounds.partition("..")
            lo, hi = _number(lo_text), _number(hi_text)
            if "int" in flags:
                kind = "int"
            else:
                try:
                    kind = "int" if target_kind(graph, target) == "int" else "float"
                except SearchError:
                    kind = "float"  # the target's problem is said by the check
            return SearchEntry(target=target, kind=kind, low=lo, high=hi, log="log" in flags)
        choices = [_choice(c.strip()) for c in rest.split(",")]
        return SearchEntry(target=target, kind="categorical", choices=choices)
    except SearchError as e:
        raise SearchError(f"--search {text!r}: {e}") from None
    except ValidationError as e:
        msg = e.errors()[0]["msg"].removeprefix("Value error, ")
        raise SearchError(f"--search {text!r}: {msg}") from None


def _number(text: str) -> int | float:
    try:
        v = json.loads(text.strip())
    except ValueError:
        v = None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise SearchError(f"{text.strip()!r} is not a number")
    return v


def _choice(text: str):
    try:
        v = json.loads(text)
    except ValueError:
        return text
    return v if isinstance(v, (int, float, str, bool)) or v is None else text


def merge(entries: list[SearchEntry], extra: list[SearchEntry]) -> list[SearchEntry]:
    """`entries` with `extra` added, an extra entry replacing one of the same target."""
    out = {e.target: e for e in entries}
    for e in extra:
        out[e.target] = e
    return list(out.values())


def current_values(graph: Graph, training: TrainingSettings, entries: list[SearchEntry]
                   ) -> dict[str, Any]:
    """The project's own value of each target that lies in its entry's range or choices (a
    sweep's first trial: the project as it stands)."""
    out = {}
    for e in entries:
        node, name = split_target(e.target)
        v = (getattr(training, name) if node == SETTINGS
             else graph.spec(node).resolved(graph.params(node))[name])
        if e.kind == "categorical":
            if any(v == c and type(v) is type(c) for c in e.choices):
                out[e.target] = v
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and e.low <= v <= e.high \
                and (e.kind == "float" or _whole(v)):
            out[e.target] = int(v) if e.kind == "int" else float(v)
    return out


def apply_values(project, values: dict[str, Any]) -> None:
    """Set each target's value in `project` (graph parameters through the Graph's mutators,
    settings through pydantic's validation). Raises SearchError naming the target."""
    g = project.graph
    for target, value in values.items():
        node, name = split_target(target)
        try:
            if node == SETTINGS:
                setattr(project.training, name, value)
            else:
                g.set_param(node, name, value)
        except ValidationError as e:
            raise SearchError(f"{target} = {json.dumps(value)}: "
                              f"{e.errors()[0]['msg']}") from None
        except GraphError as e:
            raise SearchError(f"{target} = {json.dumps(value)}: {e}") from None
