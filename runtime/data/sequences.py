"""Sequence datasets (issue 10): generated from the seed or read from what ships with Python,
never downloaded; and the user's own CSV time series cut into windows.

Every field holds the samples along dim 0 and the time steps along dim 1: values N × T × F
(float32), tokens N × T (int64). A dataset's `baselines` are the validation metric a trivial
predictor gets, measured on all its samples; the key's suffix names the metric: '_mse' (mean
squared error), '_nats' (cross-entropy, nats per token), '_accuracy'. A model worth its
training beats them.

A family module of runtime/data/ (ARCHITECTURE.md, "A dataset kind"): registers its kinds in
the base's DATASETS when imported (runtime/data/__init__.py imports it). Light to import, like
the base (the app reads the catalogue at start-up): numpy only; torch and the text corpus are
loaded when a dataset is made.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .base import (DataError, Dataset, DatasetSpec, Option, format_bytes, int_in, num_in,
                   read_csv_rows, register, resolve_file)
from .digits import make_digits

MAX_BYTES = 2 ** 30  # the most memory one generated or windowed field may take (float32)


def _check_size(what: str, shape: tuple[int, ...], hint: str, itemsize: int = 4,
                unit: str = "values") -> None:
    size = math.prod(shape) * itemsize
    if size > MAX_BYTES:
        dims = " × ".join(f"{d:,}" for d in shape)
        raise DataError(f"{what}: {dims} {unit} would take {format_bytes(size)} of memory "
                        f"(at most {format_bytes(MAX_BYTES)}): {hint}")


def _tensor(a: np.ndarray):
    import torch
    return torch.from_numpy(np.ascontiguousarray(a))


def _mse(pred: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((pred.astype(np.float64) - y.astype(np.float64)) ** 2))


# The adding problem ---------------------------------------------------------------------------

def make_adding(seed: int, n_samples: int = 10000, T: int = 50) -> Dataset:
    """The adding problem (Hochreiter & Schmidhuber, 1997), in the variant of Le et al. (2015)
    and Arjovsky et al. (2016): field x holds N sequences of T steps with 2 channels, channel 0
    values drawn from U(0, 1), channel 1 a marker that is 1 at exactly two steps, one in the
    first half (steps 0 to T//2 - 1) and one in the second half (T//2 to T - 1), else 0. Field
    y is the sum of the two marked values. The model must remember the first marked value for
    up to T steps: a plain RNN's gradients vanish over that distance, an LSTM's or GRU's do
    not. Always predicting the mean gives MSE 1/6 ≈ 0.167 (the variance of a sum of two
    U(0, 1)): the baseline to beat."""
    _check_size("adding", (n_samples, T, 2), "lower n_samples or T")
    rng = np.random.default_rng(seed)
    x = np.zeros((n_samples, T, 2), np.float32)
    x[:, :, 0] = rng.random((n_samples, T), dtype=np.float32)
    half = T // 2
    rows = np.arange(n_samples)
    first = rng.integers(0, half, n_samples)
    second = rng.integers(half, T, n_samples)
    x[rows, first, 1] = 1.0
    x[rows, second, 1] = 1.0
    y = (x[rows, first, 0] + x[rows, second, 0])[:, None]
    constant = _mse(np.full_like(y, y.mean()), y)
    return Dataset("adding", {"x": _tensor(x), "y": _tensor(y)},
                   f"Adding problem: {n_samples:,} sequences of {T} steps × 2 channels (value, "
                   f"marker); y the sum of the 2 marked values; a constant prediction gives "
                   f"MSE {constant:.3f}", baselines={"constant_mse": constant})


# Sum of sines ---------------------------------------------------------------------------------

PERIODS = (6.0, 40.0)  # in time steps: the range each sine's period is drawn from
AMPLITUDES = (0.2, 0.6)
CHUNK = 1 << 15  # rows made at a time


def make_sine(seed: int, n_samples: int = 5000, T: int = 32, noise: float = 0.05) -> Dataset:
    """Next-step prediction of a sum of sines: each sample is its own series, the sum of 2 or 3
    sines with random periods (6 to 40 steps), amplitudes (0.2 to 0.6) and phases, plus
    Gaussian noise of standard deviation `noise` at every step. Field x: a window of T steps
    (N × T × 1); field y: the series' next value (N × 1, noisy like the window). The
    persistence baseline (predict the window's last value) is reported: a model that learned
    the waves does much better (the noise alone costs noise² ≈ 0.0025 at the default)."""
    _check_size("sine", (n_samples, T + 1), "lower n_samples or T")
    rng = np.random.default_rng(seed)
    k = rng.integers(2, 4, n_samples)  # 2 or 3 sines
    omega = (2 * np.pi / rng.uniform(*PERIODS, (n_samples, 3))).astype(np.float32)
    amp = (rng.uniform(*AMPLITUDES, (n_samples, 3)) * (np.arange(3) < k[:, None])) \
        .astype(np.float32)
    phase = rng.uniform(0, 2 * math.pi, (n_samples, 3)).astype(np.float32)
    t = np.arange(T + 1, dtype=np.float32)
    s = np.zeros((n_samples, T + 1), np.float32)
    for a in range(0, n_samples, CHUNK):  # in blocks of rows: float32 temporaries stay small
        b = slice(a, a + CHUNK)
        for j in range(3):
            s[b] += amp[b, j, None] * np.sin(omega[b, j, None] * t + phase[b, j, None])
        if noise:
            s[b] += noise * rng.standard_normal(s[b].shape, dtype=np.float32)
    x, y = s[:, :T, None], s[:, T:]
    persistence = _mse(x[:, -1], y)
    constant = _mse(np.full_like(y, y.mean()), y)
    return Dataset("sine", {"x": _tensor(x), "y": _tensor(y)},
                   f"Sum of 2-3 sines: {n_samples:,} windows of {T} steps, y the next value "
                   f"(noise {noise:g}); predicting the window's last value (persistence) gives "
                   f"MSE {persistence:.4f}",
                   baselines={"persistence_mse": persistence, "constant_mse": constant})


# Characters from Python's own help text ---------------------------------------------------------

UNKNOWN = "\ufffd"  # '�': every character outside the vocabulary
# Newline and the printable ASCII characters, sorted, then UNKNOWN (which sorts after them):
# a fixed vocabulary, the same for every Python version, so a model trained on one reads text
# of another. Python 3.11.7's corpus has 575 other characters (typographic quotes and dashes,
# '…', 'ß', '°') out of 464,970: they become UNKNOWN.
VOCAB: list[str] = ["\n"] + [chr(c) for c in range(32, 127)] + [UNKNOWN]


def encode(text: str, vocab: list[str]) -> list[int]:
    """Token ids of `text`, one per character; characters outside `vocab` get the id of
    UNKNOWN (a ValueError names the first one when the vocabulary has no UNKNOWN)."""
    index = {c: i for i, c in enumerate(vocab)}
    unknown = index.get(UNKNOWN)
    out = []
    for pos, c in enumerate(text):
        i = index.get(c, unknown)
        if i is None:
            raise ValueError(f"character {c!r} at position {pos} is not in the vocabulary "
                             "(which has no unknown symbol)")
        out.append(i)
    return out


def decode(ids, vocab: list[str]) -> str:
    """The text of token ids (ints, or anything whose items int() takes: a list, a 1-D array
    or tensor)."""
    out = []
    for pos, i in enumerate(ids):
        i = int(i)
        if not 0 <= i < len(vocab):
            raise ValueError(f"token id {i} at position {pos} is outside the vocabulary "
                             f"(ids 0 to {len(vocab) - 1})")
        out.append(vocab[i])
    return "".join(out)


def corpus_text() -> str:
    """The standard library's help text (pydoc_data.topics), its topics in sorted key order."""
    try:
        from pydoc_data.topics import topics
    except ImportError:  # some distributions split pydoc_data out of the standard library
        raise DataError("the 'chars' corpus is the standard library's pydoc_data.topics, "
                        "which this Python lacks") from None
    return "".join(topics[k] for k in sorted(topics))


def _encode_array(text: str, vocab: list[str]) -> np.ndarray:
    """encode() for a long text, vectorised: a lookup table indexed by code point."""
    codes = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    unknown = vocab.index(UNKNOWN)
    lut = np.full(int(codes.max(initial=0)) + 1, unknown, np.int64)
    for i, c in enumerate(vocab):
        if ord(c) < len(lut):
            lut[ord(c)] = i
    return lut[codes]


def make_chars(seed: int, T: int = 64, n_samples: int = 0, stride: int = 0,
               max_chars: int = 0) -> Dataset:
    """Character-level text: Python's own help text (the standard library's pydoc_data.topics,
    464,970 characters of English with code examples in Python 3.11.7; the exact text follows
    the Python version). Field x: windows of T characters as token ids (N × T, int64); field y:
    the next character at every step (x shifted by one). The vocabulary (97 tokens: newline,
    the printable ASCII characters, and '�' for any other character) is saved with the
    dataset (`vocab`, also its `classes`) to decode predictions and generate text. Windows
    start every `stride` characters (0: T, so windows do not overlap and the validation split
    shares no text with training; a smaller stride repeats text across the split); n_samples
    takes that many of them, a random choice made with the seed (0: all, 7,265 windows of 64
    at the default); max_chars uses only the start of the corpus (0: all of it). Baselines:
    uniform guessing costs ln 97 ≈ 4.57 nats per character, the character frequencies alone
    about 3.2."""
    if stride == 0:
        stride = T
    text = corpus_text()
    if max_chars:
        text = text[:max_chars]
    if len(text) < T + 1:
        cut = " cut to max_chars" if max_chars else ""
        raise DataError(f"chars: a window of T={T} characters and its next character need "
                        f"{T + 1:,} characters; the corpus{cut} has {len(text):,}")
    windows = (len(text) - T - 1) // stride + 1
    if n_samples > windows:
        raise DataError(f"chars: n_samples {n_samples:,} is more than the {windows:,} windows of "
                        f"{T} characters that start every {stride} in the {len(text):,}-character "
                        f"corpus: ask for at most {windows:,}, or lower the stride")
    starts = np.arange(windows) * stride
    if n_samples:
        starts = np.sort(np.random.default_rng(seed).choice(windows, n_samples, replace=False)) \
            * stride
    _check_size("chars", (len(starts), T), "lower n_samples or T, or raise the stride",
                itemsize=8, unit="token ids")
    ids = _encode_array(text, VOCAB)
    idx = starts[:, None] + np.arange(T)
    x = ids[idx]
    idx += 1
    y = ids[idx]
    del idx
    counts = np.bincount(y.reshape(-1), minlength=len(VOCAB)).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    unigram = float(-(p * np.log(p)).sum())
    uniform = math.log(len(VOCAB))
    return Dataset("chars", {"x": _tensor(x), "y": _tensor(y)},
                   f"Python's help text: {len(starts):,} windows of {T} characters (every "
                   f"{stride}), y the next character; {len(VOCAB)} tokens; character "
                   f"frequencies alone give {unigram:.2f} nats per character",
                   classes=list(VOCAB), vocab=list(VOCAB),
                   baselines={"uniform_nats": uniform, "unigram_nats": unigram})


# Digits read row by row -----------------------------------------------------------------------

def make_digits_rows(seed: int) -> Dataset:
    """The 1,797 handwritten 8 × 8 digits of scikit-learn, read as sequences of 8 rows of 8
    pixels (top row first): field x N × 8 × 8 (time step, pixel), values 0 to 1; field y the
    digit. Sequence classification: the model sees one row per step and names the digit at
    the end. Always answering the most common digit gives about 10 % accuracy."""
    d = make_digits(seed)
    x = d.fields["x"].reshape(-1, 8, 8)
    y = d.fields["y"]
    majority = float(y.bincount().max()) / len(y)
    return Dataset("digits_rows", {"x": x, "y": y},
                   "Handwritten digits 0-9 read row by row: 8 steps of 8 pixels",
                   classes=d.classes, baselines={"majority_accuracy": majority})


# The user's CSV time series ----------------------------------------------------------------------

def load_csv_series(seed: int, path: str = "", features: list | None = None, target: str = "",
                    T: int = 16, horizon: int = 1, stride: int = 1, base_dir=None) -> Dataset:
    """Your own time series: a CSV file with a header, one row per time step in time order.
    Field x: windows of T rows of the feature columns (N × T × F; by default every column
    whose first value is a number, so a date or name column is skipped); field y: the target
    column (default: the first feature) `horizon` rows after each window's last row (N × 1).
    A window starts every `stride` rows. Every cell of a column used must be a finite
    number. The persistence baseline (the target's value in the window's last row) is
    reported, and a constant prediction's (the target's variance)."""
    p = resolve_file(path, base_dir)
    header, rows, lines = read_csv_rows(p)
    index = {h: i for i, h in enumerate(header)}
    listed = ", ".join(header)
    skipped: list[str] = []
    if features is not None and not features:
        raise DataError(f"{p}: features is empty: name at least one column, or leave it out "
                        "for every numeric column")
    if features:
        for c in features:
            if c not in index:
                raise DataError(f"{p}: no feature column '{c}' (columns: {listed})")
        if len(set(features)) < len(features):
            twice = next(c for c in features if features.count(c) > 1)
            raise DataError(f"{p}: feature column '{twice}' is named twice")
        cols = list(features)
        values = {c: _column(p, rows, lines, index[c], c) for c in cols}
    else:  # the columns whose first value is a number (a date or a name column is not)
        values = {}
        for c in header:
            if _is_number(rows[0][index[c]]):
                values[c] = _column(p, rows, lines, index[c], c)
            else:
                skipped.append(c)
        cols = list(values)
        if not cols:
            raise DataError(f"{p}: no numeric column: line {lines[0]} has a number in none of "
                            f"the columns ({listed})")
    target = target or cols[0]
    if target not in index:
        raise DataError(f"{p}: no column '{target}' for the target (columns: {listed})")
    tgt = values[target] if target in values else _column(p, rows, lines, index[target], target)
    n_rows = len(rows)
    need = T + horizon
    if n_rows < need:
        raise DataError(f"{p}: {n_rows:,} data row{'s' if n_rows != 1 else ''}, too few for one "
                        f"window: T={T} and horizon={horizon} need at least {need:,} rows")
    n = (n_rows - need) // stride + 1
    _check_size(str(p), (n, T, len(cols)), "raise the stride or lower T")
    data = np.stack([values[c] for c in cols], 1)  # rows × F
    starts = np.arange(n) * stride
    x = data[starts[:, None] + np.arange(T)]  # N × T × F, a copy
    y = tgt[starts + T - 1 + horizon][:, None]
    last = tgt[starts + T - 1][:, None]
    persistence = _mse(last, y)
    constant = _mse(np.full_like(y, y.mean()), y)
    skipped_note = f"; not numeric, skipped: {', '.join(skipped)}" if skipped else ""
    return Dataset(p.name, {"x": _tensor(x), "y": _tensor(y)},
                   f"{p.name}: {n:,} windows of {T} rows × {len(cols)} feature"
                   f"{'s' if len(cols) != 1 else ''} ({', '.join(cols)}), target '{target}' "
                   f"{horizon} row{'s' if horizon != 1 else ''} ahead; persistence gives MSE "
                   f"{persistence:.4g}{skipped_note}",
                   baselines={"persistence_mse": persistence, "constant_mse": constant})


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _column(p, rows, lines, j: int, name: str) -> np.ndarray:
    out = np.empty(len(rows), np.float32)
    for r, row in enumerate(rows):
        cell = row[j].strip()
        try:
            v = float(cell)
        except ValueError:
            what = "an empty cell" if not cell else f"{cell!r}"
            raise DataError(f"{p}: line {lines[r]}, column '{name}': {what} is not a number") \
                from None
        if not math.isfinite(v):
            raise DataError(f"{p}: line {lines[r]}, column '{name}': {cell!r} is not a finite "
                            "number (a time series needs a value at every step)")
        out[r] = v
    return out


# The catalogue entries --------------------------------------------------------------------------

def _samples(default: int) -> Option:
    return Option(default, "Number of sequences.", int_in(4, 1_000_000),
                  "a whole number 4 to 1,000,000")


def _steps(default: int, lo: int, hi: int, help: str) -> Option:
    return Option(default, help, int_in(lo, hi), f"a whole number {lo:,} to {hi:,}")


def _names(v: Any) -> bool:
    return v is None or (isinstance(v, list) and all(isinstance(c, str) for c in v))


SPECS: tuple[DatasetSpec, ...] = (
    DatasetSpec("adding", "Adding problem (sequences)", make_adding.__doc__, make_adding,
                {"n_samples": _samples(10000),
                 "T": _steps(50, 2, 1000, "Sequence length (time steps).")},
                {"x": "T × 2 (value, marker)", "y": "1 value: the sum of the 2 marked values"}),
    DatasetSpec("sine", "Sum of sines (next step)", make_sine.__doc__, make_sine,
                {"n_samples": _samples(5000),
                 "T": _steps(32, 2, 1000, "Window length (time steps)."),
                 "noise": Option(0.05, "Standard deviation of the noise at each step.",
                                 num_in(0, 1), "a number 0 to 1")},
                {"x": "T × 1 window", "y": "1 value: the next step"}),
    DatasetSpec("chars", "Characters (Python's help text)", make_chars.__doc__, make_chars,
                {"T": _steps(64, 1, 4096, "Window length in characters."),
                 "n_samples": Option(0, "Number of windows, a random choice made with the seed; "
                                        "0 for all.", int_in(0, 1_000_000),
                                     "a whole number 0 to 1,000,000"),
                 "stride": Option(0, "Characters between window starts; 0 for T (windows do "
                                     "not overlap).", int_in(0, 100_000),
                                  "a whole number 0 to 100,000"),
                 "max_chars": Option(0, "Use only the first this many characters of the "
                                        "corpus; 0 for all.", int_in(0, 100_000_000),
                                     "a whole number 0 to 100,000,000")},
                {"x": "T token ids", "y": "T token ids: the next character at each step"}),
    DatasetSpec("digits_rows", "Digits as sequences of rows (8 × 8)", make_digits_rows.__doc__,
                make_digits_rows, {},
                {"x": "8 steps × 8 pixels", "y": "digit 0-9"}),
    DatasetSpec("csv_series", "CSV time series (windows)", load_csv_series.__doc__,
                load_csv_series,
                {"path": Option("", "The .csv file (relative to the project's folder), one row "
                                    "per time step."),
                 "features": Option(None, "Feature columns; empty for every numeric column.",
                                    _names, "a list of column names"),
                 "target": Option("", "The column to predict; empty for the first feature.",
                                  lambda v: isinstance(v, str), "a column name"),
                 "T": _steps(16, 1, 100_000, "Window length (rows)."),
                 "horizon": _steps(1, 1, 100_000, "Rows ahead of the window's last row that "
                                                  "the target is taken from."),
                 "stride": _steps(1, 1, 100_000, "Rows between window starts.")},
                {"x": "T × features window", "y": "1 value: the target horizon rows later"},
                takes_path=True),
)

register(*SPECS)
