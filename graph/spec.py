"""The types a catalogue entry is made of: ports, params, docs, tensor types and the node spec.

A NodeSpec is data. Everything that knows a layer (palette, inspector, shape inference,
validation, compile, help, file format) reads it from here; nothing else names a layer.
This module imports the standard library only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
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


class NodeRole(StrEnum):
    """What a node is to the runtime (NodeSpec.role): the closed set. A member equals its
    string, so files, tests and `spec.role == "loss"` read the same."""
    LAYER = "layer"  # computes a value from its inputs
    INPUT = "input"  # a dataset field enters the model here
    TARGET = "target"  # a dataset field a loss compares with (training only)
    OUTPUT = "output"  # a value the model returns (what exports and the Try panel show)
    LOSS = "loss"  # a term of the objective
    NOISE = "noise"  # random values drawn each step (a generator's z); not a dataset field
    FEEDBACK = "feedback"  # a decoder's previous tokens: the target shifted in training
    DECODE = "decode"  # the loop that feeds a decoder its own predictions (inference)
    APPLY = "apply"  # applies a subnet again, sharing its weights (a GAN's D on G(z))
    BLOCK_INPUT = "block_input"  # a block definition's input port (graph/blocks.py)
    BLOCK_OUTPUT = "block_output"  # a block definition's output port

    @property
    def layer_like(self) -> bool:
        """Whether the node may belong to a sub-network (a shared sub-network holds layers;
        the model's ends, its losses and the nodes that apply a sub-network stay outside)."""
        return self not in (NodeRole.INPUT, NodeRole.TARGET, NodeRole.OUTPUT, NodeRole.LOSS,
                            NodeRole.NOISE, NodeRole.APPLY, NodeRole.BLOCK_INPUT,
                            NodeRole.BLOCK_OUTPUT)

    @property
    def block_port(self) -> bool:
        """Whether the node is one of a block definition's ports."""
        return self in (NodeRole.BLOCK_INPUT, NodeRole.BLOCK_OUTPUT)


class PortRole(StrEnum):
    """What a port is to the runtime, the data checks and the Try panel (Port.role): the
    closed set. Nothing outside the catalogue finds a port by its name."""
    NONE = ""  # nothing reads the port by role
    VALUE = "value"  # the value an Input, Target or noise node gives
    PRED = "pred"  # a loss: the model's prediction (a discriminator's score of real samples)
    TARGET = "target"  # a loss: what the prediction is compared with
    LOSS = "loss"  # a loss node's output
    FAKE = "fake"  # a GAN discriminator loss: its score of generated samples
    FEATURES = "features"  # what a learning rule reads (the perceptron's x)
    FEATURE_MAP = "feature_map"  # the feature map anchors are laid over
    IMAGE = "image"  # the images a detector reads (their size clips boxes, sets strides)
    ANCHORS = "anchors"  # anchor boxes laid over the image
    PROPOSALS = "proposals"  # region proposals: an input (R-CNN) or an RPN's output
    TOKEN_IDS = "token_ids"  # integer ids looked up in a table (an Embedding's input)
    KEYS = "keys"  # an attention node's keys (from the encoder: cross-attention)
    ATTENTION = "attention"  # an attention node's weights, queries × keys
    DET_BOXES = "det_boxes"  # a detector's boxes, scores, labels and masks
    DET_SCORES = "det_scores"
    DET_LABELS = "det_labels"
    DET_MASKS = "det_masks"
    GT_BOXES = "gt_boxes"  # the true objects' boxes, labels and masks
    GT_LABELS = "gt_labels"
    GT_MASKS = "gt_masks"


class ParamRole(StrEnum):
    """What a parameter means to the runtime (Param.role), where it reads one: the data
    checks, the Try panel and the anchor view find a parameter by role, never by name."""
    NONE = ""
    VOCABULARY = "vocabulary"  # how many token ids a table holds (an Embedding's size)
    CLASS_AXIS = "class_axis"  # which axis of a prediction holds the class scores
    MAX_POSITIONS = "max_positions"  # the longest sequence a positional encoding holds
    ANCHOR_SIZES = "anchor_sizes"  # anchor sides in image pixels
    ANCHOR_RATIOS = "anchor_ratios"  # anchor height / width ratios
    OBJECT_IOU = "object_iou"  # IoU at or above which an anchor is an object
    BACKGROUND_IOU = "background_iou"  # IoU below which it is background
    KEEP_BEST_MATCH = "keep_best_match"  # each object's best anchors are objects too
    SAMPLE_SHAPE = "sample_shape"  # one sample's shape (no batch) an Input, Target, noise gives
    NOISE_DISTRIBUTION = "noise_distribution"  # "normal" or "uniform"
    LOSS_WEIGHT = "loss_weight"  # a loss's factor in the total the training minimises
    FROM_LOGITS = "from_logits"  # whether a loss reads raw scores (True) or probabilities
    IGNORE_INDEX = "ignore_index"  # a class index a loss and its accuracy leave out
    START_TOKEN = "start_token"  # the token id a decoder starts from
    END_TOKEN = "end_token"  # the token id that ends a sequence
    PAD_TOKEN = "pad_token"  # the token id after a sequence's end
    SUBNET = "subnet"  # the sub-network a node applies again


class OutputKind(StrEnum):
    """What a layer's output is, where the runtime must know (NodeSpec.gives)."""
    ANY = ""
    PROBABILITIES = "probabilities"  # non-negative, summing to 1 over the last axis


def _closed(obj, name: str, kind: type[StrEnum]) -> None:
    """Turn a frozen dataclass's string field into its closed-set member (ValueError, naming
    the allowed values, for a string outside the set: a catalogue mistake)."""
    v = getattr(obj, name)
    try:
        object.__setattr__(obj, name, kind(v))
    except ValueError:
        raise ValueError(f"{name} {v!r} is not one of {', '.join(repr(m.value) for m in kind)}"
                         ) from None


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
    role: PortRole = PortRole.NONE
    path: tuple[int, ...] = ()  # outputs: where in the result this port's value is
    by_name: bool = False  # inputs: passed as a keyword argument even when wired
    # inputs: "train" when the wire exists in the training graph only (a Teacher forcing
    # node's target): the inference graph leaves it out, so what the node reads does not
    # make it training-only. "infer": wired at inference only (Mask RoIs' detections): the
    # training objective leaves it out, and what it reads does not make the node
    # inference-only.
    phase: str = ""

    def __post_init__(self):
        _closed(self, "role", PortRole)


PARAM_KINDS = ("int", "float", "bool", "choice", "shape", "dims", "padding", "str", "axes",
               "numbers", "ints", "intlist")


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
    role: ParamRole = ParamRole.NONE  # what the runtime reads it as (ParamRole)

    def __post_init__(self):
        assert self.kind in PARAM_KINDS, self.kind
        _closed(self, "role", ParamRole)
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
        if k == "ints":  # whole numbers >= 0, one per side or per axis: (0, 1, 0, 1) padding
            if not isinstance(value, list) or not value or not all(_is_int(v) for v in value):
                return "must be a list of whole numbers, e.g. 1, 1"
            if any(v < 0 for v in value):
                return "must be whole numbers >= 0"
            return None if len(value) <= 16 else "has more than 16 numbers"
        if k == "intlist":  # whole numbers, negative too: dims counted from the end, shifts
            if not isinstance(value, list) or not value or not all(_is_int(v) for v in value):
                return "must be a list of whole numbers, e.g. 1, -1"
            return None if len(value) <= 16 else "has more than 16 numbers"
        if k == "numbers":  # a list of positive numbers: an anchor generator's aspect ratios
            if not isinstance(value, list) or not value or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                return "must be a list of numbers, e.g. 0.5, 1, 2"
            if not all(_finite(v) and v > 0 for v in value):
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
            if not _finite(value):
                return "must be a finite number"
        if self.min is not None and value < self.min:
            return f"must be >= {_fmt(self.min)}"
        if self.max is not None and value > self.max:
            return f"must be <= {_fmt(self.max)}"
        return None


def _finite(v: int | float) -> bool:
    """Whether a number is finite as a float: not NaN nor ±inf, and not an integer too large
    for a double (a 401-digit int, which math.isfinite refuses with OverflowError)."""
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


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
    role: NodeRole = NodeRole.LAYER  # what the node is to the runtime (NodeRole)
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
    gives: OutputKind = OutputKind.ANY  # what its output is, where the runtime must know
    # CPU training may keep the node's tensors channels-last (NHWC): "gains" where its kernel
    # is faster so, "safe" where its results were measured the same, "flat" where they are
    # the same on flat features N × F only (Dropout: on an image its random mask would follow
    # the memory order). "" keeps the graph in NCHW (runtime/devices.py)
    channels_last: str = ""
    figure: str = ""  # a drawn figure its help shows (app/panels.py names them)

    def __post_init__(self):
        _closed(self, "role", NodeRole)
        _closed(self, "gives", OutputKind)
        assert self.channels_last in ("", "gains", "safe", "flat"), self.channels_last

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

    def param_role(self, role: str) -> str | None:
        """The name of the parameter with `role` (ParamRole), or None if it has none."""
        return next((p.name for p in self.params if p.role == role), None)

    def role_value(self, params: Mapping[str, Any], role: str) -> Any:
        """The value (defaults filled in) of the parameter with `role` (KeyError if none)."""
        name = self.param_role(role)
        if name is None:
            raise KeyError(f"{self.type} has no parameter with role {role!r}")
        return self.resolved(params)[name]

    def out_role_or_none(self, role: str) -> str | None:
        return next((p.name for p in self.outputs if p.role == role), None)

    def in_role_or_none(self, role: str) -> str | None:
        return next((p.name for p in self.inputs if p.role == role), None)

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
