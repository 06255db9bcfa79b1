"""The sequence datasets of runtime/sequences.py (issue 10, item 4)."""
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from runtime.data import DATASETS, PATH_DATASETS, DataError, load_dataset
from runtime.data.sequences import UNKNOWN, VOCAB, corpus_text, decode, encode

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ["adding", "sine", "chars", "digits_rows"]


def raises(message):
    return pytest.raises(DataError, match=re.escape(message))


# Shapes, dtypes, determinism -----------------------------------------------------------------

@pytest.mark.parametrize("name, options, x, y, x_dtype, y_dtype", [
    ("adding", {}, (10000, 50, 2), (10000, 1), torch.float32, torch.float32),
    ("adding", {"n_samples": 8, "T": 2}, (8, 2, 2), (8, 1), torch.float32, torch.float32),
    ("sine", {}, (5000, 32, 1), (5000, 1), torch.float32, torch.float32),
    ("sine", {"n_samples": 9, "T": 7}, (9, 7, 1), (9, 1), torch.float32, torch.float32),
    ("chars", {}, (7265, 64), (7265, 64), torch.int64, torch.int64),
    ("chars", {"T": 16, "n_samples": 50}, (50, 16), (50, 16), torch.int64, torch.int64),
    ("digits_rows", {}, (1797, 8, 8), (1797,), torch.float32, torch.int64),
])
def test_shapes_and_dtypes(name, options, x, y, x_dtype, y_dtype):
    d = load_dataset(name, options)
    assert list(d.fields) == ["x", "y"]
    assert tuple(d.fields["x"].shape) == x and d.fields["x"].dtype == x_dtype
    assert tuple(d.fields["y"].shape) == y and d.fields["y"].dtype == y_dtype
    assert d.fields["x"].is_contiguous() and d.fields["y"].is_contiguous()
    assert set(d.baselines) and all(isinstance(v, float) for v in d.baselines.values())
    assert all(k.endswith(("_mse", "_nats", "_accuracy")) for k in d.baselines)
    assert set(DATASETS[name].fields) == {"x", "y"}


@pytest.mark.parametrize("name, options", [
    ("adding", {"n_samples": 50, "T": 10}), ("sine", {"n_samples": 50}),
    ("chars", {"n_samples": 50})])
def test_generated_sets_are_deterministic_per_seed(name, options):
    a, b, c = (load_dataset(name, options, seed=s) for s in (3, 3, 4))
    for k in a.fields:
        assert torch.equal(a.fields[k], b.fields[k])
    assert not torch.equal(a.fields["x"], c.fields["x"])
    assert a.baselines == b.baselines


def test_the_older_datasets_have_no_baselines_or_vocabulary():
    d = load_dataset("xor", {})
    assert d.baselines == {} and d.vocab is None


# The adding problem -------------------------------------------------------------------------

@pytest.mark.parametrize("T", [2, 3, 50, 51])
def test_adding_has_one_marker_in_each_half_and_sums_the_marked_values(T):
    d = load_dataset("adding", {"n_samples": 500, "T": T}, seed=1)
    x, y = d.fields["x"], d.fields["y"]
    values, marker = x[:, :, 0], x[:, :, 1]
    assert ((values >= 0) & (values < 1)).all()
    assert ((marker == 0) | (marker == 1)).all() and (marker.sum(1) == 2).all()
    assert (marker[:, :T // 2].sum(1) == 1).all() and (marker[:, T // 2:].sum(1) == 1).all()
    assert torch.allclose(y[:, 0], (values * marker).sum(1), atol=1e-6)


def test_adding_markers_cover_every_step_of_each_half():
    marker = load_dataset("adding", {"n_samples": 2000, "T": 10}).fields["x"][:, :, 1]
    assert (marker.sum(0) > 0).all()


def test_adding_constant_baseline_is_the_variance_of_the_sum():
    d = load_dataset("adding", {}, seed=0)
    y = d.fields["y"].double()
    assert d.baselines["constant_mse"] == pytest.approx(float(y.var(unbiased=False)), rel=1e-9)
    assert abs(d.baselines["constant_mse"] - 1 / 6) < 0.01
    assert "MSE 0.17" in d.description
    assert "0.167" in DATASETS["adding"].description


# Sum of sines -------------------------------------------------------------------------------

def test_sine_persistence_baseline():
    d = load_dataset("sine", {}, seed=0)
    x, y = d.fields["x"].double(), d.fields["y"].double()
    persistence = float(((x[:, -1] - y) ** 2).mean())
    assert d.baselines["persistence_mse"] == pytest.approx(persistence, rel=1e-9)
    assert d.baselines["constant_mse"] == pytest.approx(float(y.var(unbiased=False)), rel=1e-9)
    assert 0.01 < persistence < 0.5 * d.baselines["constant_mse"]
    assert f"MSE {persistence:.4f}" in d.description


def test_sine_without_noise_is_a_sum_of_at_most_three_small_waves():
    d = load_dataset("sine", {"n_samples": 300, "T": 40, "noise": 0.0})
    s = torch.cat([d.fields["x"][:, :, 0], d.fields["y"]], 1)
    assert s.abs().max() <= 1.8
    # a sum of k sines satisfies a linear recurrence of order 2k: 6 steps predict the next
    a = s.double().numpy()
    for row in a[:20]:
        rows = np.stack([row[i:i + 6] for i in range(len(row) - 6)])
        coef, *_ = np.linalg.lstsq(rows, row[6:], rcond=None)
        assert np.abs(rows @ coef - row[6:]).max() < 1e-3
    noisy = load_dataset("sine", {"n_samples": 300, "T": 40, "noise": 0.3})
    assert noisy.baselines["persistence_mse"] > d.baselines["persistence_mse"] + 0.1


# Characters ---------------------------------------------------------------------------------

def test_vocabulary_is_sorted_and_round_trips():
    assert VOCAB == sorted(VOCAB) and len(VOCAB) == len(set(VOCAB)) == 97
    assert VOCAB[0] == "\n" and VOCAB[-1] == UNKNOWN
    text = 'def f(x):\n    return {"a": x ** 2}  # ~`|\\'
    assert decode(encode(text, VOCAB), VOCAB) == text
    assert decode(torch.tensor(encode(text, VOCAB)), VOCAB) == text
    assert encode("a’b", VOCAB) == [VOCAB.index("a"), 96, VOCAB.index("b")]
    assert decode(encode("“ß”", VOCAB), VOCAB) == UNKNOWN * 3


def test_encode_and_decode_errors():
    with pytest.raises(ValueError, match=r"character 'z' at position 2 is not in the vocabulary"):
        encode("abz", ["a", "b"])
    with pytest.raises(ValueError, match=r"token id 97 at position 1 is outside the vocabulary "
                                         r"\(ids 0 to 96\)"):
        decode([3, 97], VOCAB)
    with pytest.raises(ValueError, match="token id -1"):
        decode([-1], VOCAB)


def test_chars_windows_are_the_corpus_and_targets_are_shifted_inputs():
    d = load_dataset("chars", {})
    x, y = d.fields["x"], d.fields["y"]
    assert d.vocab == VOCAB and d.classes == VOCAB
    assert torch.equal(y[:, :-1], x[:, 1:])
    assert torch.equal(y[:-1, -1], x[1:, 0])  # stride T: each window follows the previous one
    text = corpus_text()
    assert len(text) > 400_000 and len(x) == (len(text) - 65) // 64 + 1
    inside = "".join(c if c in VOCAB else UNKNOWN for c in text)
    for i in (0, 1234, len(x) - 1):
        assert decode(x[i], d.vocab) == inside[64 * i:64 * i + 64]
        assert decode(y[i], d.vocab) == inside[64 * i + 1:64 * i + 65]
    assert int(x.max()) < len(VOCAB) and int(x.min()) >= 0
    unknown = (x == VOCAB.index(UNKNOWN)).float().mean()
    assert 0 < unknown < 0.005  # typographic quotes and dashes: rare


def test_chars_stride_sample_and_max_chars():
    d = load_dataset("chars", {"T": 10, "stride": 5, "max_chars": 100})
    assert len(d) == (100 - 11) // 5 + 1
    assert torch.equal(d.fields["x"][1, :5], d.fields["x"][0, 5:])  # overlapping windows
    full = load_dataset("chars", {"T": 10, "stride": 5, "max_chars": 1000})
    some = load_dataset("chars", {"T": 10, "stride": 5, "max_chars": 1000, "n_samples": 30},
                        seed=7)
    rows, picked = full.fields["x"].tolist(), some.fields["x"].tolist()
    assert len(picked) == 30
    at = -1
    for r in picked:  # windows of the full set, in corpus order (the text repeats itself)
        at = rows.index(r, at + 1)
    other = load_dataset("chars", {"T": 10, "stride": 5, "max_chars": 1000, "n_samples": 30},
                         seed=8)
    assert other.fields["x"].tolist() != picked


def test_chars_baselines():
    d = load_dataset("chars", {})
    assert d.baselines["uniform_nats"] == pytest.approx(math.log(97))
    counts = torch.bincount(d.fields["y"].reshape(-1)).double()
    p = counts[counts > 0] / counts.sum()
    assert d.baselines["unigram_nats"] == pytest.approx(float(-(p * p.log()).sum()))
    assert 2.8 < d.baselines["unigram_nats"] < 3.6


@pytest.mark.parametrize("options, message", [
    ({"T": 64, "max_chars": 10}, "chars: a window of T=64 characters and its next character "
                                 "need 65 characters; the corpus cut to max_chars has 10"),
    ({"T": 10, "max_chars": 100, "n_samples": 10},
     "chars: n_samples 10 is more than the 9 windows of 10 characters that start every 10 in "
     "the 100-character corpus: ask for at most 9, or lower the stride"),
])
def test_chars_errors(options, message):
    with raises(message):
        load_dataset("chars", options)


# Digits as rows -----------------------------------------------------------------------------

def test_digits_rows_are_the_digits_reshaped():
    rows, digits = load_dataset("digits_rows", {}), load_dataset("digits", {})
    assert torch.equal(rows.fields["x"], digits.fields["x"].reshape(-1, 8, 8))
    assert torch.equal(rows.fields["x"][5, 3], digits.fields["x"][5, 0, 3])  # step 3 = row 3
    assert torch.equal(rows.fields["y"], digits.fields["y"])
    assert rows.classes == [str(i) for i in range(10)]
    assert rows.baselines["majority_accuracy"] == pytest.approx(183 / 1797)


# CSV time series ----------------------------------------------------------------------------

SERIES = "date,a,b\n" + "".join(f"d{i},{i},{10 * i}\n" for i in range(1, 6))


def write(tmp_path, text, name="series.csv"):
    (tmp_path / name).write_text(text)
    return name


def test_csv_series_windows_have_exact_values(tmp_path):
    write(tmp_path, SERIES)
    d = load_dataset("csv_series", {"path": "series.csv", "T": 2}, base_dir=tmp_path)
    assert d.fields["x"].tolist() == [[[1, 10], [2, 20]], [[2, 20], [3, 30]],
                                      [[3, 30], [4, 40]]]
    assert d.fields["y"].tolist() == [[3], [4], [5]]  # target: the first feature, 'a'
    assert d.fields["x"].dtype == d.fields["y"].dtype == torch.float32
    assert d.baselines["persistence_mse"] == pytest.approx(1.0)
    assert d.baselines["constant_mse"] == pytest.approx(2 / 3)
    assert "3 windows of 2 rows × 2 features (a, b), target 'a'" in d.description
    assert "not numeric, skipped: date" in d.description
    d = load_dataset("csv_series", {"path": "series.csv", "T": 2, "horizon": 2, "stride": 2,
                                    "features": ["b"], "target": "b"}, base_dir=tmp_path)
    assert d.fields["x"].tolist() == [[[10], [20]]] and d.fields["y"].tolist() == [[40]]
    assert d.baselines["persistence_mse"] == pytest.approx(400.0)
    d = load_dataset("csv_series", {"path": str(tmp_path / "series.csv"), "T": 3,
                                    "features": ["b"], "target": "a", "stride": 2})
    assert d.fields["x"].tolist() == [[[10], [20], [30]]] and d.fields["y"].tolist() == [[4]]
    d = load_dataset("csv_series", {"path": "series.csv", "T": 1, "features": ["b", "a"]},
                     base_dir=tmp_path)
    assert d.fields["x"][0].tolist() == [[10, 1]]
    assert d.fields["y"][:, 0].tolist() == [20, 30, 40, 50]


def test_csv_series_is_a_path_dataset():
    assert "csv_series" in PATH_DATASETS


@pytest.mark.parametrize("text, options, message", [
    ("a,b\n1,2\n3,x\n", {"features": ["a", "b"], "T": 1},
     "line 3, column 'b': 'x' is not a number"),
    ("a,b\n1,2\n3,x\n", {"T": 1, "target": "b"}, "line 3, column 'b': 'x' is not a number"),
    ("a,b\n1,2\n3,\n", {"features": ["b"], "T": 1}, "line 3, column 'b': an empty cell is not "
                                                     "a number"),
    ("a\n1\n\n2\nnan\n", {"T": 1}, "line 5, column 'a': 'nan' is not a finite number"),
    ("t,a\nx,1\ny,2\nz,\n", {"T": 1}, "line 4, column 'a': an empty cell is not a number"),
    ("t,a\nx,1\ny,2\nz,3O\n", {"T": 1}, "line 4, column 'a': '3O' is not a number"),
    ("a,b\n1,2\n3,4\n", {}, "2 data rows, too few for one window: T=16 and horizon=1 need at "
                            "least 17 rows"),
    ("a\n1\n2\n3\n", {"T": 2, "horizon": 2}, "3 data rows, too few for one window: T=2 and "
                                             "horizon=2 need at least 4 rows"),
    ("a,a\n1,2\n", {"T": 1}, "the header names a column more than once: 'a' (columns 1, 2)"),
    ("a,\n1,2\n", {"T": 1}, "column 2 of the header has no name"),
    ("a,b\n1,2\n3\n", {"T": 1}, "line 3 has 1 values, the header has 2"),
    ("a,b\n1,2\n", {"T": 1}, "1 data row, too few for one window: T=1 and horizon=1 need at "
                            "least 2 rows"),
    ("a\n", {"T": 1}, "needs a header row and at least one data row"),
    ("x,y\np,q\n", {"T": 1}, "no numeric column: line 2 has a number in none of the columns "
                            "(x, y)"),
    ("a,b\n1,2\n", {"T": 1, "features": ["z"]}, "no feature column 'z' (columns: a, b)"),
    ("a,b\n1,2\n", {"T": 1, "target": "z"}, "no column 'z' for the target (columns: a, b)"),
    ("a,b\n1,2\n", {"T": 1, "features": []}, "features is empty"),
    ("a,b\n1,2\n", {"T": 1, "features": ["a", "a"]}, "feature column 'a' is named twice"),
    ('a\n1\n"' + "x" * 200_000 + '"\n', {"T": 1}, "line 3: not valid CSV (field larger than "
                                                 "field limit"),
])
def test_csv_series_errors_name_the_file_line_and_column(tmp_path, text, options, message):
    write(tmp_path, text)
    with pytest.raises(DataError) as e:
        load_dataset("csv_series", {"path": "series.csv", **options}, base_dir=tmp_path)
    assert message in str(e.value)
    assert str(e.value).startswith(str(tmp_path / "series.csv") + ": ")


def test_csv_series_file_errors(tmp_path):
    with raises("data.options.path: give the path of the file"):
        load_dataset("csv_series", {}, base_dir=tmp_path)
    with raises(f"{tmp_path / 'gone.csv'}: no such file"):
        load_dataset("csv_series", {"path": "gone.csv"}, base_dir=tmp_path)
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x80abc")
    with raises("not a text (CSV) file"):
        load_dataset("csv_series", {"path": "bin.csv"}, base_dir=tmp_path)


# Option checks and memory --------------------------------------------------------------------

@pytest.mark.parametrize("name, options, message", [
    ("adding", {"T": 1}, "data.options.T: must be a whole number 2 to 1,000 (got 1)"),
    ("adding", {"T": 50.0}, "data.options.T: must be a whole number 2 to 1,000 (got 50.0)"),
    ("adding", {"n_samples": 3}, "data.options.n_samples: must be a whole number 4 to "
                                 "1,000,000 (got 3)"),
    ("adding", {"noise": 0.1}, "data.options.noise: dataset 'adding' has no such option (it "
                               "takes: n_samples, T)"),
    ("sine", {"noise": -0.1}, "data.options.noise: must be a number 0 to 1 (got -0.1)"),
    ("sine", {"T": True}, "data.options.T: must be a whole number 2 to 1,000 (got True)"),
    ("chars", {"T": 0}, "data.options.T: must be a whole number 1 to 4,096 (got 0)"),
    ("chars", {"stride": -1}, "data.options.stride: must be a whole number 0 to 100,000"),
    ("chars", {"n_samples": "all"}, "data.options.n_samples: must be a whole number 0 to "
                                    "1,000,000"),
    ("chars", {"max_chars": 1.5}, "data.options.max_chars: must be a whole number"),
    ("digits_rows", {"n_samples": 5}, "dataset 'digits_rows' has no such option (it takes: "
                                      "none)"),
    ("csv_series", {"features": "a,b"}, "data.options.features: must be a list of column "
                                        "names (got 'a,b')"),
    ("csv_series", {"target": 3}, "data.options.target: must be a column name (got 3)"),
    ("csv_series", {"horizon": 0}, "data.options.horizon: must be a whole number 1 to 100,000"),
    ("csv_series", {"stride": 0}, "data.options.stride: must be a whole number 1 to 100,000"),
    ("csv_series", {"T": 0}, "data.options.T: must be a whole number 1 to 100,000"),
])
def test_option_checks_through_load_dataset(name, options, message):
    with raises(message):
        load_dataset(name, options)


def test_every_default_passes_its_own_check():
    for name in GENERATED + ["csv_series"]:
        for key, opt in DATASETS[name].options.items():
            assert opt.check(opt.default), (name, key)


@pytest.mark.parametrize("name, options, message", [
    ("adding", {"n_samples": 1_000_000, "T": 1000},
     "adding: 1,000,000 × 1,000 × 2 values would take 7.5 GiB of memory (at most 1 GiB): lower "
     "n_samples or T"),
    ("sine", {"n_samples": 1_000_000, "T": 1000}, "sine: 1,000,000 × 1,001 values would take "
                                                  "3.7 GiB"),
    ("chars", {"T": 4096, "stride": 1}, "chars: 460,874 × 4,096 token ids would take 14 GiB "
                                        "of memory (at most 1 GiB): lower n_samples or T, or "
                                        "raise the stride"),
])
def test_too_large_for_memory_is_refused_before_making(name, options, message):
    with raises(message):
        load_dataset(name, options)


def test_csv_series_too_large_for_memory(tmp_path, monkeypatch):
    import runtime.data.sequences
    monkeypatch.setattr(runtime.data.sequences, "MAX_BYTES", 10_000)
    write(tmp_path, "a,b\n" + "1,2\n" * 200)
    with raises("series.csv: 184 × 16 × 2 values would take 23 KiB of memory (at most 9.8 KiB): "
                "raise the stride or lower T"):
        load_dataset("csv_series", {"path": "series.csv"}, base_dir=tmp_path)


# NPZ sequences through the existing 'npz' kind --------------------------------------------------

def test_npz_holds_sequences_and_token_arrays(tmp_path):
    values = np.random.default_rng(0).normal(size=(6, 5, 3))  # float64 N × T × F
    tokens = np.arange(6 * 4, dtype=np.int32).reshape(6, 4) % 7  # N × T ids
    np.savez(tmp_path / "seq.npz", x=values, tokens=tokens, y=np.arange(6))
    d = load_dataset("npz", {"path": "seq.npz"}, base_dir=tmp_path)
    assert d.fields["x"].shape == (6, 5, 3) and d.fields["x"].dtype == torch.float32
    assert torch.allclose(d.fields["x"], torch.from_numpy(values).float())
    assert d.fields["tokens"].shape == (6, 4) and d.fields["tokens"].dtype == torch.int64
    assert d.fields["tokens"].tolist() == tokens.tolist()


# Speed, imports, no network --------------------------------------------------------------------

@pytest.mark.parametrize("name", GENERATED)
def test_defaults_are_made(name):
    """(Speed is measured outside the tests: every default took under 25 ms here.)"""
    d = load_dataset(name, {})
    assert len(d) > 0 and set(d.fields) == {"x", "y"}


def test_a_csv_series_of_ten_thousand_rows(tmp_path):
    rows = "".join(f"{i},{i % 7},{i * 0.5}\n" for i in range(10000))
    write(tmp_path, "t,a,b\n" + rows)
    d = load_dataset("csv_series", {"path": "series.csv", "T": 32}, base_dir=tmp_path)
    assert d.fields["x"].shape == (10000 - 32, 32, 3)


def test_importing_the_catalogue_loads_neither_torch_nor_the_corpus():
    code = ("import sys\nimport runtime.data.sequences, runtime.data\n"
            "from runtime.data import DATASETS\n"
            "assert {'adding', 'sine', 'chars', 'digits_rows', 'csv_series'} <= set(DATASETS)\n"
            "print(' '.join(sorted(sys.modules)))")
    for first in ("runtime.data", "runtime.data.sequences"):  # either import order works
        out = subprocess.run([sys.executable, "-c", code.replace(
            "import runtime.data.sequences, runtime.data", f"import {first}")], cwd=ROOT,
            capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        mods = set(out.stdout.split())
        assert "runtime.data.sequences" in mods
        assert not {m for m in mods if m.split(".")[0] in ("torch", "sklearn", "PySide6")}
        assert "pydoc_data.topics" not in mods


NO_NETWORK = """
import sys
def guard(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.bind", "urllib.Request"):
        raise SystemExit(f"network access: {event} {args}")
sys.addaudithook(guard)
from runtime.data import load_dataset
for name in ("adding", "sine", "chars", "digits_rows"):
    load_dataset(name, {})
open("s.csv", "w").write("a\\n" + "1\\n" * 40)
load_dataset("csv_series", {"path": "s.csv"}, base_dir=".")
print("OFFLINE-OK")
"""


def test_no_sequence_dataset_opens_a_socket(tmp_path):
    r = subprocess.run([sys.executable, "-c", NO_NETWORK], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OFFLINE-OK" in r.stdout
