import numpy as np
import pytest
import torch

from graph.project import Project, load
from graph.settings import DataSettings
from runtime.data import DATASETS, DataError, load_dataset
from runtime.train import Trainer

TEMPLATES = __import__("templates").FOLDER


@pytest.mark.parametrize("name", ["blobs", "xor", "circles", "spirals", "shapes"])
def test_generators_are_deterministic(name):
    a, b, c = (load_dataset(name, {"n_samples": 90}, seed=s) for s in (3, 3, 4))
    for k in a.fields:
        assert torch.equal(a.fields[k], b.fields[k])
    assert not torch.equal(a.fields["x"], c.fields["x"])


def test_blobs_are_linearly_separable():
    d = load_dataset("blobs", {"n_samples": 2000}, seed=0)
    side = d.fields["x"].sum(1) > 0
    assert torch.equal(side.long(), d.fields["y"])


def test_digits_come_from_the_installed_package():
    d = load_dataset("digits", {})
    assert d.fields["x"].shape == (1797, 1, 8, 8) and d.fields["x"].max() == 1.0
    assert d.fields["y"].bincount().tolist()[:3] == [178, 182, 177]


def test_shapes_match_the_seed_sizes():
    for size in (32, 64):
        d = load_dataset("shapes", {"n_samples": 9, "size": size})
        assert d.fields["x"].shape == (9, 3, size, size)
        assert d.classes == ["circle", "square", "triangle"]


@pytest.mark.parametrize("name, options, message", [
    ("mnist", {}, "unknown dataset 'mnist' (known: blobs, xor"),
    ("", {}, "no dataset chosen"),
    ("spirals", {"n": 5}, "data.options.n: dataset 'spirals' has no such option (it takes: "
                          "n_samples, noise, turns)"),
    ("spirals", {"n_samples": "many"}, "data.options.n_samples: must be a whole number"),
])
def test_dataset_errors(name, options, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_dataset(name, options)


def write_csv(tmp_path, text):
    f = tmp_path / "data.csv"
    f.write_text(text)
    return f


def test_csv_columns_and_labels(tmp_path):
    f = write_csv(tmp_path, "a,b,kind,c\n1,2,cat,3\n4,5.5,dog,6\n7,8,cat,9\n")
    d = load_dataset("csv", {"path": "data.csv", "label": "kind", "features": ["c", "a"]},
                     base_dir=tmp_path)
    assert d.fields["x"].tolist() == [[3, 1], [6, 4], [9, 7]]
    assert d.fields["y"].tolist() == [0, 1, 0] and d.classes == ["cat", "dog"]
    d = load_dataset("csv", {"path": str(f), "label": "c", "label_kind": "value",
                             "features": ["a", "b"]})
    assert d.fields["x"].shape == (3, 2) and d.fields["y"].dtype == torch.float32
    with pytest.raises(DataError, match="line 2, column 'kind': 'cat' is not a number"):
        load_dataset("csv", {"path": str(f), "label": "c"})  # all other columns: not numeric


@pytest.mark.parametrize("text, options, message", [
    ("a,b\n1,2\n", {"label": "y"}, "no column 'y' for the label (columns: a, b)"),
    ("a,b\n1,2\n", {"label": "b", "features": ["z"]}, "no feature column 'z'"),
    ("a,b\n1,x\n", {"label": "a"}, "line 2, column 'b': 'x' is not a number"),
    ("a,b\n1,2,3\n", {"label": "a"}, "line 2 has 3 values, the header has 2"),
    ("a,b\n", {"label": "a"}, "needs a header row and at least one data row"),
    ("a,b\n1,cat\n", {"label": "b", "label_kind": "value"}, "'cat' is not a number"),
])
def test_csv_errors_name_the_file_and_column(tmp_path, text, options, message):
    f = write_csv(tmp_path, text)
    with pytest.raises(DataError) as info:
        load_dataset("csv", {"path": str(f), **options})
    assert str(f) in str(info.value) and message in str(info.value)


def test_npz_fields_and_errors(tmp_path):
    f = tmp_path / "arrays.npz"
    np.savez(f, images=np.zeros((5, 1, 4, 4), np.float64), labels=np.arange(5))
    d = load_dataset("npz", {"path": str(f)})
    assert d.fields["images"].dtype == torch.float32 and d.fields["labels"].dtype == torch.int64
    bad = tmp_path / "objects.npz"
    np.savez(bad, x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="never unpickled"):
        load_dataset("npz", {"path": str(bad)})
    uneven = tmp_path / "uneven.npz"
    np.savez(uneven, x=np.zeros((5, 2)), y=np.zeros(4))
    with pytest.raises(DataError, match="different numbers of samples: x 5, y 4"):
        load_dataset("npz", {"path": str(uneven)})
    with pytest.raises(DataError, match="no such file"):
        load_dataset("npz", {"path": str(tmp_path / "none.npz")})


def damaged_npz_files(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, x=np.zeros((50, 3)), y=np.arange(50))
    data = good.read_bytes()
    packed = tmp_path / "packed.npz"
    np.savez_compressed(packed, x=np.random.default_rng(0).random((50, 3)))
    flipped = bytearray(packed.read_bytes())
    flipped[200] ^= 0xFF  # a damaged byte inside the compressed array
    np.save(tmp_path / "one.npy", np.zeros(3))
    files = {"cut in half": data[:len(data) // 2], "last bytes lost": data[:-10],
             "bad CRC": bytes(flipped), "empty": b"", "text": b"x,y\n1,2\n",
             "a .npy renamed": (tmp_path / "one.npy").read_bytes()}
    out = {}
    for case, content in files.items():
        f = tmp_path / f"{case.replace(' ', '_')}.npz"
        f.write_bytes(content)
        out[case] = f
    return out


def test_damaged_npz_is_a_data_error_naming_the_file(tmp_path):
    expected = {"cut in half": "damaged .npz file (BadZipFile", "last bytes lost": "damaged",
                "bad CRC": "damaged .npz file (BadZipFile: Bad CRC-32", "empty": "empty",
                "text": "not an .npz file", "a .npy renamed": "a single .npy array"}
    for case, f in damaged_npz_files(tmp_path).items():
        with pytest.raises(DataError) as info:
            load_dataset("npz", {"path": str(f)})
        assert str(info.value).startswith(f"{f}: "), (case, str(info.value))
        assert expected[case] in str(info.value), (case, str(info.value))


@pytest.mark.parametrize("header, options, message", [
    ("a,a,label", {"label": "label"}, "'a' (columns 1, 2)"),  # both would feed x
    ("a,b,a,label,b", {"label": "label"}, "'a' (columns 1, 3); 'b' (columns 2, 5)"),
    ("a,b,label,b", {"label": "label", "features": ["a"]}, "'b' (columns 2, 4)"),  # unused
    ("a,label,label", {"label": "label"}, "'label' (columns 2, 3)"),
    ("a, a ,label", {"label": "label"}, "'a' (columns 1, 2)"),  # the same once stripped
])
def test_csv_refuses_duplicated_column_names(tmp_path, header, options, message):
    f = write_csv(tmp_path, f"{header}\n" + ",".join(["1"] * len(header.split(","))) + "\n")
    with pytest.raises(DataError) as info:
        load_dataset("csv", {"path": str(f), **options})
    text = str(info.value)
    assert text.startswith(f"{f}: the header names") and message in text, text


@pytest.mark.parametrize("header, message", [
    ("a,,label", "column 2 of the header has no name"),
    ("a,b,label,", "column 4 of the header has no name"),
    (",a, ,label", "columns 1, 3 of the header have no name"),
])
def test_csv_refuses_nameless_columns(tmp_path, header, message):
    f = write_csv(tmp_path, f"{header}\n" + ",".join(["1"] * len(header.split(","))) + "\n")
    with pytest.raises(DataError) as info:
        load_dataset("csv", {"path": str(f), "label": "label", "features": ["a"]})
    assert str(info.value) == f"{f}: {message}: every column needs one"


def failure(project, base_dir=None):
    events = list(Trainer(project, base_dir=base_dir, device="cpu").run())
    assert events[-1].kind == "failed"
    return events[-1].message


def test_binding_errors_name_node_and_field(tmp_path):
    p = load(TEMPLATES / "cnn.json")
    p.data.bind = {"image": "pixels", "label": "y"}
    assert failure(p) == ("data.bind: Input 'image' is bound to field 'pixels', which 'digits' "
                          "does not have (its fields: x, y)")
    p.data.bind = {"label": "y"}
    assert "Input 'image' is not bound to a field of 'digits'" in failure(p)
    p = load(TEMPLATES / "mlp.json")
    p.data = DataSettings(dataset="digits")
    p.graph.set_param("x", "shape", [64])
    assert failure(p) == ("Input 'x' expects samples of 64 but field 'x' of 'digits' "
                          "gives 1 × 8 × 8 (the same number of values: add a Reshape node or "
                          "change the shape)")


def test_wrong_dtype_and_nan(tmp_path):
    p = load(TEMPLATES / "mlp.json")
    f = tmp_path / "d.npz"
    np.savez(f, x=np.array([[0.0, 1.0], [3.0, 2.0]] * 5), y=np.array([0.5, 1.0] * 5))
    p.data = DataSettings(dataset="npz", options={"path": "d.npz"}, bind={"x": "x", "label": "y"})
    assert "Target 'label' takes whole numbers (int64" in failure(p, tmp_path)
    np.savez(f, x=np.array([[0.0, 1.0], [np.nan, 2.0]] * 5), y=np.array([0, 1] * 5))
    assert "field 'x' of 'd.npz' holds NaN or infinite values (first in sample 1)" in failure(p, tmp_path)


def test_user_csv_trains_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2))
    rows = ["f1,f2,label"] + [f"{a:.4f},{b:.4f},{'hi' if a + b > 0 else 'lo'}" for a, b in x]
    (tmp_path / "mine.csv").write_text("\n".join(rows))
    p = load(TEMPLATES / "mlp.json")
    p.data = DataSettings(dataset="csv", options={"path": "mine.csv", "label": "label"},
                          bind={"x": "x", "label": "y"})
    p.training.epochs = 20
    events = list(Trainer(p, base_dir=tmp_path, device="cpu").run())
    assert events[-1].kind == "finished" and events[-1].metrics["val_accuracy"] > 0.9


def test_every_dataset_documents_its_fields():
    for spec in DATASETS.values():
        assert spec.description and spec.title
