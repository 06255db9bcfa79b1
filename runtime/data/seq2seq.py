"""Sequence-to-sequence datasets (issue 11), generated from the seed, never downloaded.

Each holds a source field x (token ids N × S, int64) and a target field y (token ids N × T,
int64), both padded to the dataset's longest sequence with the pad token (id 0). The target
ends with the end token, so a decoder learns when to stop; the encoder's input has no start
or end token. One vocabulary serves the source and the target: `PAD`, `START`, `END`, then
`UNKNOWN` and the characters. It is saved with the dataset (`vocab`), the run and the
export, so a typed input can be encoded and the decoded output read.

A family module of runtime/data/ (ARCHITECTURE.md, "A dataset kind"): registers its kinds in
the base's DATASETS when imported (runtime/data/__init__.py imports it). Light to import (numpy
and the standard library).
"""
from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np

from .base import DataError, Dataset, DatasetSpec, Option, int_in, register

PAD, START, END, UNKNOWN = "<pad>", "<s>", "</s>", "\ufffd"
SPECIAL = (PAD, START, END, UNKNOWN)
PAD_ID, START_ID, END_ID, UNKNOWN_ID = range(4)


def char_vocab(chars: str) -> list[str]:
    """The special tokens, then the characters of `chars` (each once, sorted)."""
    return [*SPECIAL, *sorted(set(chars))]


def encode(text: str, vocab: list[str], end: bool = False) -> list[int]:
    """Token ids of `text`, one per character (UNKNOWN for a character outside `vocab`);
    with `end`, the end token after them."""
    index = {c: i for i, c in enumerate(vocab) if i >= len(SPECIAL)}
    ids = [index.get(c, UNKNOWN_ID) for c in text]
    return ids + [END_ID] if end else ids


def decode(ids, vocab: list[str]) -> str:
    """The text of token ids up to the first end token; pad and start tokens are skipped."""
    out = []
    for i in ids:
        i = int(i)
        if i == END_ID:
            break
        if i in (PAD_ID, START_ID) or not 0 <= i < len(vocab):
            continue
        out.append(vocab[i])
    return "".join(out)


def pad_batch(seqs: list[list[int]], length: int | None = None) -> np.ndarray:
    """N × length int64, each row a sequence followed by pad tokens."""
    length = max(map(len, seqs), default=0) if length is None else length
    out = np.full((len(seqs), length), PAD_ID, np.int64)
    for r, s in enumerate(seqs):
        if len(s) > length:
            raise DataError(f"a sequence of {len(s)} tokens does not fit in {length}")
        out[r, :len(s)] = s
    return out


def _tensor(a: np.ndarray):
    import torch
    return torch.from_numpy(np.ascontiguousarray(a))


def _pair_dataset(name: str, sources: list[str], targets: list[str], vocab: list[str],
                  description: str, baselines: dict | None = None) -> Dataset:
    x = pad_batch([encode(s, vocab) for s in sources])
    y = pad_batch([encode(t, vocab, end=True) for t in targets])
    return Dataset(name, {"x": _tensor(x), "y": _tensor(y)}, description,
                   classes=list(vocab), vocab=list(vocab), baselines=baselines or {})


# Dates --------------------------------------------------------------------------------------

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FIRST, LAST = _dt.date(1900, 1, 1), _dt.date(2099, 12, 31)


def _ordinal(d: int) -> str:
    return f"{d}{'th' if 11 <= d % 100 <= 13 else {1: 'st', 2: 'nd', 3: 'rd'}.get(d % 10, 'th')}"


# Each takes a date and gives how people write it: the source side of the dataset.
DATE_FORMATS = (
    lambda d: f"the {_ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}",
    lambda d: f"{d.month}/{d.day}/{d.year}",
    lambda d: f"{MONTHS[d.month - 1][:3]} {d.day}, {d.year}",
    lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    lambda d: f"{DAYS[d.weekday()]}, {MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"{DAYS[d.weekday()][:3]} {d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    lambda d: f"{d.year} {MONTHS[d.month - 1][:3]} {d.day}",
    lambda d: f"{MONTHS[d.month - 1].lower()} {_ordinal(d.day)} {d.year}",
)
DATE_CHARS = ("".join(MONTHS) + "".join(DAYS) + "".join(MONTHS).lower() + "0123456789 ,./-"
              + "thsndr")
DATE_VOCAB = char_vocab(DATE_CHARS)


def human_date(d: _dt.date, style: int) -> str:
    return DATE_FORMATS[style % len(DATE_FORMATS)](d)


def make_dates(seed: int, n_samples: int = 10000) -> Dataset:
    """Date-format translation: field x a date as people write it, in one of 12 styles ('the
    29th of August 1958', '08/29/1958', 'Aug 29, 1958', 'Tuesday, August 29, 1958', '29.08.1958'
    …), as character ids padded to the longest (N × S); field y the same date in ISO form,
    '1958-08-29', then the end token (N × 11). Dates are drawn uniformly from 1900-01-01 to
    2099-12-31 with Python's datetime (so the weekdays are right), each date once (so a
    validation date was never seen in training), each with a random style.
    The vocabulary (the special tokens and the characters used) is saved with the dataset.
    Exact match of the whole decoded date is the measure; guessing the most common output
    gets about 0."""
    rng = np.random.default_rng(seed)
    span = (LAST - FIRST).days + 1
    if n_samples > span:
        raise DataError(f"dates: n_samples {n_samples:,} is more than the {span:,} days from "
                        f"{FIRST} to {LAST}: each date appears once")
    days = rng.choice(span, n_samples, replace=False)  # each date once: held-out dates are new
    styles = rng.integers(0, len(DATE_FORMATS), n_samples)
    dates = [FIRST + _dt.timedelta(days=int(k)) for k in days]
    sources = [human_date(d, int(s)) for d, s in zip(dates, styles)]
    targets = [d.isoformat() for d in dates]
    longest = max(map(len, sources))
    return _pair_dataset("dates", sources, targets, DATE_VOCAB,
                         f"Dates: {n_samples:,} dates written in {len(DATE_FORMATS)} styles (up "
                         f"to {longest} characters) -> ISO 'YYYY-MM-DD'; {len(DATE_VOCAB)} "
                         "tokens")


# Reversal and copy ----------------------------------------------------------------------------

SYMBOLS = "abcdefghijklmnopqrstuvwxyz"


def make_symbols(seed: int, n_samples: int = 10000, min_len: int = 3, max_len: int = 12,
                 symbols: int = 10, task: str = "reverse") -> Dataset:
    """Sequence reversal or copy over a small vocabulary: field x a random string of
    `min_len` to `max_len` symbols drawn from the first `symbols` letters ('a', 'b', …),
    padded (N × max_len); field y the string reversed ('reverse') or as it is ('copy'), then
    the end token (N × max_len + 1). Reversal needs the decoder's first output to come from
    the encoder's last input: the long-range dependency a single context vector struggles
    with and attention solves."""
    if task not in ("reverse", "copy"):
        raise DataError(f"{task!r} is not a task: 'reverse' or 'copy'")
    if min_len > max_len:
        raise DataError(f"min_len {min_len} is more than max_len {max_len}")
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_len, max_len + 1, n_samples)
    alphabet = SYMBOLS[:symbols]
    picks = rng.integers(0, symbols, (n_samples, max_len))
    sources = ["".join(alphabet[j] for j in row[:n]) for row, n in zip(picks, lengths)]
    targets = [s[::-1] if task == "reverse" else s for s in sources]
    vocab = char_vocab(alphabet)
    return _pair_dataset(task, sources, targets, vocab,
                         f"{task.capitalize()}: {n_samples:,} strings of {min_len} to {max_len} "
                         f"of {symbols} symbols; {len(vocab)} tokens")


def make_reverse(seed: int, n_samples: int = 10000, min_len: int = 3, max_len: int = 12,
                 symbols: int = 10) -> Dataset:
    return make_symbols(seed, n_samples, min_len, max_len, symbols, "reverse")


def make_copy(seed: int, n_samples: int = 10000, min_len: int = 3, max_len: int = 12,
              symbols: int = 10) -> Dataset:
    return make_symbols(seed, n_samples, min_len, max_len, symbols, "copy")


make_reverse.__doc__ = make_symbols.__doc__
make_copy.__doc__ = make_symbols.__doc__


# The catalogue entries --------------------------------------------------------------------------

def _symbol_options() -> dict[str, Option]:
    return {"n_samples": Option(10000, "Number of strings.", int_in(4, 1_000_000),
                                "a whole number 4 to 1,000,000"),
            "min_len": Option(3, "Shortest string.", int_in(1, 1000), "a whole number 1 to 1,000"),
            "max_len": Option(12, "Longest string (the padded length).", int_in(1, 1000),
                              "a whole number 1 to 1,000"),
            "symbols": Option(10, "How many different symbols (letters a, b, …).",
                              int_in(2, 26), "a whole number 2 to 26")}


def _fields(src: str, tgt: str) -> dict[str, Any]:
    return {"x": src, "y": tgt}


SPECS: tuple[DatasetSpec, ...] = (
    DatasetSpec("dates", "Dates to ISO format (translation)", make_dates.__doc__, make_dates,
                {"n_samples": Option(10000, "Number of dates (each a different day).",
                                     int_in(4, 73_049), "a whole number 4 to 73,049")},
                _fields("S token ids: a date as people write it",
                        "11 token ids: YYYY-MM-DD and the end token")),
    DatasetSpec("reverse", "Reverse a string (sequence to sequence)", make_symbols.__doc__,
                make_reverse, _symbol_options(),
                _fields("max_len token ids", "max_len + 1 token ids: reversed, then the end")),
    DatasetSpec("copy", "Copy a string (sequence to sequence)", make_symbols.__doc__,
                make_copy, _symbol_options(),
                _fields("max_len token ids", "max_len + 1 token ids: the same, then the end")),
)

register(*SPECS)
