"""The types a catalogue entry is made of: ports, params, docs, tensor types and the node spec.

A NodeSpec is data. Everything that knows a layer (palette, inspector, shape inference,
validation, compile, help, file format) reads it from here; nothing else names a layer.
This module imports the standard library only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

Dim = int | str  # an int, or a symbolic size such as "N" (the batch) or "T" (a sequence's length)

BATCH = "N"


def is_symbol(d) -> bool:
    """A symbolic size in a shape param, set by the data: a capital letter, maybe with a digit
    or two ("T", "L", "T2"); not "N", the batch. Short on purpose: a typo such as "zero" is
    refused rather than taken for a size."""
    if not isinstance(d, str) or not 1 <= len(d) <= 3 or not d.isascii() or d == BATCH:
        return False
    return d[0].isupper() and d[0].isalpha() and (d[1:] == "" or d[1:].isdigit())


@dataclass(frozen=True)
class TensorType:
    """The inferred type of a value on a port: its shape (batch dim symbolic) and dtype."""

    shape: tuple[Dim, ...]
    dtype: str = "float32"
    kind: str = "tensor"  # "tensor" or "loss"
    # What the values are, where it helps to say so on the wire: "boxes" (x1, y1, x2, y2
    # rows), "RoIs" (batch index, x1, y1, x2, y2), "box deltas", "scores"; '' for plain values
    holds: str = ""

    @property
    def sample_shape(self) -> tuple[Dim, ...]:
        return self.shape[1:]

    def __str__(self) -> str:
        if not self.shape:
            return "scalar"
        text = " × ".join(str(d) for d in self.shape)
        if self.holds:
            text = f"{text} {self.holds}"
        return text if self.dtype == "float32" else f"{text} ({self.dtype})"


def numel(dims: Sequence[Dim]) -> int | None:
    """Number of elements of concrete dims, None if one is symbolic."""
    if any(not isinstance(d, int) for d in dims):
        return None
    return math.prod(dims)


MAX_NUMEL = 2**63 - 1  # torch's limit on any size, and on the values one tensor holds


def too_many(dims: Sequence[Dim]) -> bool:
    """True if the concrete sizes in `dims` hold more than MAX_NUMEL values. It stops as soon
    as they do: the product of 100,000 large sizes would take seconds to compute, and could
    not be printed (Python refuses str() of an int over 4,300 digits)."""
    if any(d == 0 for d in dims):
        return False
    total = 1
    for d in dims:
        if isinstance(d, int) and d > 0:
            total *= d
            if total > MAX_NUMEL:
                return True
    return False


class ShapeError(Exception):
    """Raised by a shape rule. `port` names the port at fault (None: the node itself)."""

    def __init__(self, message: str, port: str | None = None):
        super().__init__(message)
        self.message = message
        self.port = port


@dataclass(frozen=True)
class Port:
    """A node's input or output.

    Inputs are passed to the node's module or function in port order; an `optional` input
    that is not wired is simply left out, so optional (and `by_name`) inputs are passed as
    keyword arguments named after the port (an LSTM's initial states h0, c0). An output's
    `path` picks it out of a nested result: nn.LSTM returns (y, (h, c)), so its ports are
    y (0,), h (1, 0) and c (1, 1); a node with one output takes the whole result. `role`
    says what the runtime does with the port ("value" of an Input or Target, "pred",
    "target" and "loss" of a loss node, "features" a learning rule reads), so nothing
    outside the catalogue names a port."""
    name: str
    kind: str = "tensor"  # what flows: "tensor" or "loss"
    multi: bool = False  # several edges may enter (an input port only)
    optional: bool = False  # may be left unconnected
    doc: str = ""
    role: str = ""
    path: tuple[int, ...] = ()  # outputs: where in the result this port's value is
    by_name: bool = False  # inputs: passed as a keyword argument even when wired
    # inputs: "train" when the wire exists in the training graph only (a Teacher forcing
    # node's target): the inference graph leaves it out, so what the node reads does not
    # make it training-only. "infer": wired at inference only (Mask RoIs' detections): the
    # training objective leaves it out, and what it reads does not make the node
    # inference-only.
    phase: str = ""


PARAM_KINDS = ("int", "float", "bool", "choice", "shape", "dims", "padding", "str", "axes",
               "numbers")


@dataclass(frozen=True)
class Param:
    """One typed parameter. `auto=True` lets the value be None, shown as "auto" (inferred)."""

    name: str
    kind: str
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    auto: bool = False
    label: str = ""

    def __post_init__(self):
        assert self.kind in PARAM_KINDS, self.kind
        assert self.check(self.default) is None, (self.name, self.check(self.default))

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ")

    def check(self, value: Any) -> str | None:
        """None if `value` is acceptable, else a sentence saying why not."""
        if value is None:
            return None if self.auto else "must be set"
        k = self.kind
        if k == "bool":
            return None if isinstance(value, bool) else "must be true or false"
        if k == "str":
            return None if isinstance(value, str) else "must be text"
        if k == "choice":
            if value in self.choices:
                return None
            return "must be one of " + ", ".join(repr(c) for c in self.choices)
        if k == "padding":
            if value in ("valid", "same"):
                return None
            if _is_int(value):
                return None if value >= 0 else "must be 'valid', 'same' or a number >= 0"
            return "must be 'valid', 'same' or a number >= 0"
        if k == "axes":
            if not isinstance(value, list) or not value or not all(_is_int(v) for v in value):
                return "must be a list of axis numbers, e.g. [0, 2, 1]"
            if any(v < 0 for v in value) or len(set(value)) != len(value):
                return "must list each axis once, numbered from 0"
            return None if len(value) <= 16 else "has more axes than a tensor (16 at most here)"
        if k == "numbers":  # a list of positive numbers: an anchor generator's aspect ratios
            if not isinstance(value, list) or not value or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                return "must be a list of numbers, e.g. 0.5, 1, 2"
            if not all(math.isfinite(v) and v > 0 for v in value):
                return "must be positive numbers"
            return None if len(value) <= 64 else "has more than 64 numbers"
        if k == "shape" and isinstance(value, list) and any(is_symbol(v) for v in value):
            # A sequence whose length the data sets: ["T", 2] is N × T × 2 for any T.
            rest = [v for v in value if not is_symbol(v)]
            if not all(_is_int(v) for v in rest):
                return ("must be a list of whole numbers or size names, e.g. [1, 28, 28] or "
                        "['T', 2]")
            if any(v < 1 for v in rest):
                return "sizes must be >= 1"
            return "holds more values than a tensor can (at most 2⁶³ − 1)" if too_many(rest) \
                else None
        if k in ("shape", "dims"):
            if not isinstance(value, list) or not all(_is_int(v) for v in value):
                return ("must be a list of whole numbers, e.g. [1, 28, 28]" if k == "dims" else
                        "must be a list of whole numbers or size names, e.g. [1, 28, 28] or "
                        "['T', 2]")
            if k == "dims" and not value:
                return "must list at least one size"
            if k == "shape" and any(v < 1 for v in value):
                return "sizes must be >= 1"
            if k == "dims":
                if any(v < 1 and v != -1 for v in value):
                    return "sizes must be >= 1 (one of them may be -1)"
                if value.count(-1) > 1:
                    return "only one size may be -1"
            if too_many(value):
                return "holds more values than a tensor can (at most 2⁶³ − 1)"
            return None
        if k == "int" and not _is_int(value):
            return "must be a whole number"
        if k == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return "must be a number"
            if not math.isfinite(value):
                return "must be a finite number"
        if self.min is not None and value < self.min:
            return f"must be >= {_fmt(self.min)}"
        if self.max is not None and value > self.max:
            return f"must be <= {_fmt(self.max)}"
        return None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass(frozen=True)
class Doc:
    """Help text from the seed notes. Formulas are plain Unicode, ready to show as they are."""

    summary: str
    formula: str = ""
    use_case: str = ""
    notes: str = ""


@dataclass(frozen=True)
class Make:
    """Build a torch module: `target` is a dotted name resolved by the runtime
    ("nn.Linear", "ops.Perceptron"); `init` is the weight-init scheme to apply."""

    target: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    init: str = "default"


@dataclass(frozen=True)
class Call:
    """Call a function on the node's inputs: `target(*inputs, **kwargs)`."""

    target: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)


class ShapeContext:
    """What a shape rule sees: params (defaults filled in), input types, and where inputs come from."""

    def __init__(self, node: str, params: dict, ins: dict, sources: dict):
        self.node = node
        self.p = params
        self.ins = ins  # port -> TensorType (or list of them for a multi port)
        self._sources = sources  # port -> upstream node id (or list)

    def src(self, port: str) -> str:
        s = self._sources.get(port)
        return ", ".join(s) if isinstance(s, list) else str(s)

    def fail(self, message: str, port: str | None = None):
        raise ShapeError(message, port)


class BuildContext:
    """What a build function sees: params, input types and inferred output types."""

    def __init__(self, node: str, params: dict, ins: dict, outs: dict):
        self.node = node
        self.p = params
        self.ins = ins
        self.outs = outs


ShapeRule = Callable[[ShapeContext], dict]
BuildRule = Callable[[BuildContext], "Make | Call"]


@dataclass(frozen=True)
class NodeSpec:
    type: str  # frozen: saved files use it
    title: str
    category: str
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    params: tuple[Param, ...]
    shape: ShapeRule
    doc: Doc
    build: BuildRule | None = None
    # "input", "target", "output", "layer", "loss", "feedback" (the decoder's previous tokens:
    # the target shifted in training, the loop's own tokens at inference) or "decode" (the
    # loop that feeds a decoder its own predictions)
    role: str = "layer"
    # "train": the node (and what depends on it) is in the training graph only; "infer": in
    # the inference graph only (the model that exports and that the Try panel runs)
    phase: str = ""
    color: str = "#6c7a89"
    version: int = 1
    id_prefix: str = "node"
    replaces: tuple[str, ...] = ()  # old type ids this one takes over in files
    metric: str | None = None  # loss nodes: the metric shown by default
    rule: str | None = None  # a non-gradient learning rule ("perceptron")
    differentiable: bool = True
    sequence_input: str | None = None  # the input port a recurrent layer reads steps from
    migrate: Callable[[dict, int], dict] | None = None  # params of an older version -> this

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def input(self, name: str) -> Port | None:
        return next((p for p in self.inputs if p.name == name), None)

    def output(self, name: str) -> Port | None:
        return next((p for p in self.outputs if p.name == name), None)

    def in_role(self, role: str) -> str:
        """The input port with `role` (KeyError if none: a catalogue mistake)."""
        for p in self.inputs:
            if p.role == role:
                return p.name
        raise KeyError(f"{self.type} has no input with role {role!r}")

    def out_role(self, role: str) -> str:
        for p in self.outputs:
            if p.role == role:
                return p.name
        raise KeyError(f"{self.type} has no output with role {role!r}")

    @property
    def value_port(self) -> str:
        """The port an Input's or Target's value leaves by; a layer's first output."""
        return next((p.name for p in self.outputs if p.role == "value"), self.outputs[0].name)

    def defaults(self) -> dict:
        return {p.name: _copy(p.default) for p in self.params}

    def resolved(self, params: Mapping[str, Any]) -> dict:
        """Params with defaults filled in for the ones not given."""
        out = self.defaults()
        out.update({k: _copy(v) for k, v in params.items() if k in out})
        return out


def _copy(v: Any) -> Any:
    return list(v) if isinstance(v, list) else v
