"""Each export round-trips: the exported model gives the in-app model's outputs."""
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import torch

from graph.model import Graph
from graph.project import Project, load
from runtime.export import ExportError, export, trained_model
from runtime.train import Trainer
from runtime.weights import save_weights
from tests.graphs import chain, small_saved_project, two_inputs_concat

ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-5


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The CNN template after 40 steps, its weights in a safetensors file."""
    folder = tmp_path_factory.mktemp("trained")
    project = load(ROOT / "templates" / "cnn.json")
    t = Trainer(project, device="cpu", max_steps=40)
    assert list(t.run())[-1].kind == "finished"
    save_weights(t.model, folder / "w.safetensors")
    x = torch.rand(7, 1, 8, 8)  # a batch size the exporters never saw
    with torch.no_grad():
        t.model.eval()
        y = t.model(x)
    return project, folder / "w.safetensors", x, y


def test_bundle(trained, tmp_path):
    project, w, x, y = trained
    files = export(project, w, "bundle", tmp_path / "bundle")
    assert {f.name for f in files} == {"model.safetensors", "project.json"}
    again = trained_model(load(tmp_path / "bundle" / "project.json"), tmp_path / "bundle")
    with torch.no_grad():
        assert (again.model(x) - y).abs().max() <= TOL


def test_torchscript(trained, tmp_path):
    project, w, x, y = trained
    [f] = export(project, w, "torchscript", tmp_path / "m.pt")
    m = torch.jit.load(str(f))
    with torch.no_grad():
        assert (m(x) - y).abs().max() <= TOL


def test_onnx_in_onnxruntime(trained, tmp_path):
    import onnxruntime as ort
    project, w, x, y = trained
    [f] = export(project, w, "onnx", tmp_path / "m.onnx")
    s = ort.InferenceSession(str(f))
    assert [i.name for i in s.get_inputs()] == ["image"]
    out = s.run(None, {"image": x.numpy()})[0]
    assert abs(out - y.numpy()).max() <= TOL
    assert not list(tmp_path.glob(".m.onnx*"))  # no temp files left


def test_python_file_runs_with_the_same_outputs(trained, tmp_path):
    project, w, x, y = trained
    files = export(project, w, "python", tmp_path / "digits_cnn.py")
    assert [f.name for f in files] == ["digits_cnn.py", "digits_cnn.safetensors"]
    torch.save(x, tmp_path / "x.pt")  # the test's own input, not part of the export
    code = ("import torch, sys\nsys.path.insert(0, '.')\nfrom digits_cnn import load\n"
            "m = load('digits_cnn.safetensors')\nx = torch.load('x.pt')\n"
            "print(repr(m(x).tolist()))")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (torch.tensor(eval(r.stdout)) - y).abs().max() <= TOL
    text = files[0].read_text()
    assert "class CNN(nn.Module)" in text and "self.conv1 = nn.Conv2d(in_channels=1" in text
    assert "layerloom" not in text.lower().replace("exported by layerloom", "")  # no import of us


_VENV: dict[str, Path] = {}


def torch_only_venv(tmp_path_factory) -> Path:
    """The python of a new venv holding torch and safetensors (and torch's own needs) only:
    made once per test session, shared by every test that runs an exported file in it
    (tests/runtime/test_export_recurrent.py too), since pip takes a while."""
    if "python" not in _VENV:
        env_dir = tmp_path_factory.mktemp("torch_only") / "venv"
        venv.EnvBuilder(with_pip=True).create(env_dir)
        py = env_dir / "bin" / "python"
        pip_env = dict(os.environ, PIP_CONSTRAINT=str(ROOT / "constraints.txt"))
        r = subprocess.run([str(py), "-m", "pip", "install", "-q", "torch==2.13.0",
                            "safetensors"], env=pip_env, capture_output=True, text=True,
                           timeout=900)
        assert r.returncode == 0, r.stderr[-2000:]
        r = subprocess.run([str(py), "-m", "pip", "list", "--format=json"],
                           capture_output=True, text=True)
        names = {p["name"].lower() for p in json.loads(r.stdout)}
        assert names >= {"torch", "safetensors"}
        assert not names & {"layerloom", "pyside6-essentials", "pydantic", "pyqtgraph", "onnx",
                            "scikit-learn", "tqdm"}  # only torch (and its own needs), safetensors
        _VENV["python"] = py
    return _VENV["python"]


@pytest.mark.slow  # builds a venv with torch (shared by the venv tests)
def test_python_file_in_a_fresh_venv_with_only_torch_and_safetensors(trained, tmp_path,
                                                                      tmp_path_factory):
    """The standalone file needs nothing of LayerLoom: a new venv with torch and safetensors."""
    project, w, x, y = trained
    export(project, w, "python", tmp_path / "model.py")
    py = torch_only_venv(tmp_path_factory)
    r = subprocess.run([str(py), "model.py", "model.safetensors"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "outputs: (2, 10)"


def test_several_inputs_and_outputs_export(tmp_path):
    import onnxruntime as ort
    g = Graph()
    two_inputs_concat(g)
    chain(g, "cat", [("Linear", "fc", {"out_features": 4}), ("Tanh", "t", {})], first_port="y")
    g.add_node("Reshape", "r", {"shape": [2, 2]})
    g.connect("t", "y", "r", "x")
    g.add_node("Output", "flat")
    g.add_node("Output", "square")
    g.connect("t", "y", "flat", "x")
    g.connect("r", "y", "square", "x")
    p = Project(graph=g, name="Two heads")
    c = trained_model(p, None)
    save_weights(c.model, tmp_path / "w.safetensors")
    a, b = torch.rand(6, 3), torch.rand(6, 5)
    with torch.no_grad():
        ref = c.model(a, b)
    [f] = export(p, tmp_path / "w.safetensors", "onnx", tmp_path / "two.onnx")
    outs = ort.InferenceSession(str(f)).run(None, {"a": a.numpy(), "b": b.numpy()})
    for o, r in zip(outs, ref):
        assert abs(o - r.numpy()).max() <= TOL
    export(p, tmp_path / "w.safetensors", "python", tmp_path / "two_heads.py")
    src = (tmp_path / "two_heads.py").read_text()
    assert "def reshape(" in src and "return (tanh, reshape)" in src.replace("t, r", "tanh, reshape") \
        or "return (t, r)" in src
    ns = {}
    exec(compile(src, "two_heads.py", "exec"), ns)
    m = ns["load"](str(tmp_path / "two_heads.safetensors"))
    with torch.no_grad():
        got = m(a, b)
    assert all((x - y).abs().max() <= TOL for x, y in zip(got, ref))


def test_bad_weights_and_formats(trained, tmp_path):
    project, w, x, y = trained
    other = load(ROOT / "templates" / "mlp.json")
    with pytest.raises(ExportError, match="has no weights for fc1"):
        export(other, w, "bundle", tmp_path / "b")
    with pytest.raises(ExportError, match="no weights there"):
        export(project, tmp_path, "bundle", tmp_path / "b")
    with pytest.raises(ExportError, match="unknown format"):
        export(project, w, "tflite", tmp_path / "b")
    with pytest.raises(ExportError, match="no such folder"):
        export(project, w, "onnx", tmp_path / "nowhere" / "m.onnx")
    assert not (tmp_path / "b").exists()


@pytest.mark.slow  # over 4.5 s: the full tier (the everyday one stays under 10 min)
def test_weights_from_the_folder_train_out_writes(tmp_path):
    """`layerloom train P --out DIR` then `layerloom export P --weights DIR`."""
    r = subprocess.run([sys.executable, "-m", "app.cli", "train", "templates/perceptron.json",
                        "--device", "cpu", "--no-progress", "--out", str(tmp_path / "trained")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "app.cli", "export", "templates/perceptron.json",
                        "--weights", str(tmp_path / "trained"), "--format", "bundle",
                        "--out", str(tmp_path / "bundle")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "bundle" / "model.safetensors").is_file()
    (tmp_path / "trained" / "other.safetensors").write_bytes(b"")
    with pytest.raises(ExportError, match="several weights files there"):
        export(load(ROOT / "templates" / "perceptron.json"), tmp_path / "trained", "bundle",
               tmp_path / "b2")


@pytest.mark.slow  # over 4.5 s: the full tier (the everyday one stays under 10 min)
def test_cli_export(trained, tmp_path):
    project, w, x, y = trained
    r = subprocess.run([sys.executable, "-m", "app.cli", "export", "templates/cnn.json",
                        "--weights", str(w), "--format", "onnx", "--out", str(tmp_path / "m.onnx")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "m.onnx")
    r = subprocess.run([sys.executable, "-m", "app.cli", "export", "templates/mlp.json",
                        "--weights", str(w), "--format", "bundle", "--out", str(tmp_path / "x")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr


# Where an export may write: never over the project or its weights; existing things only with
# force; files as readable as any other (0o666 & ~umask) ---------------------------------------

def small(tmp_path):
    """A small project saved in tmp_path, and weights for it."""
    return small_saved_project(tmp_path)


@pytest.mark.parametrize("fmt", ["bundle", "torchscript", "onnx", "pt2", "python"])
def test_never_over_the_project_or_its_weights(tmp_path, fmt):
    from runtime.export import DestinationError
    p, pj, w = small(tmp_path)
    (tmp_path / "link.json").symlink_to(pj)
    if fmt == "python":  # it writes OUT.py and OUT.safetensors
        pj = tmp_path / "net.py"  # a project file a python export could reach
        p.save(pj)
        cases = [(w, w), (tmp_path / "small", w), (tmp_path / "net.json", pj)]
    else:
        cases = [(pj, pj), (w, w), (tmp_path / "link.json", tmp_path / "link.json")]
        if fmt == "bundle":
            cases.append((tmp_path, tmp_path))  # the folder holding both
    before = {f: f.read_bytes() for f in (pj, w)}
    names = sorted(f.name for f in tmp_path.iterdir())
    for out, named in cases:
        for force in (False, True):
            with pytest.raises(DestinationError, match="being exported") as e:
                export(p, w, fmt, out, force=force, project_path=pj)
            assert str(e.value).startswith(f"{named}: ")
    assert {f: f.read_bytes() for f in (pj, w)} == before
    assert sorted(f.name for f in tmp_path.iterdir()) == names


@pytest.mark.parametrize("fmt", ["bundle", "torchscript", "onnx", "pt2", "python"])
def test_replaces_only_with_force(tmp_path, fmt):
    from runtime.export import DestinationError, ExistsError, output_paths
    p, pj, w = small(tmp_path)
    out = tmp_path / "out" / {"bundle": "b", "python": "m.py"}.get(fmt, f"m.{fmt}")
    out.parent.mkdir()
    first = export(p, w, fmt, out, project_path=pj)
    stamp = {f: f.stat().st_mtime_ns for f in first}
    with pytest.raises(ExistsError, match="pass --force") as e:
        export(p, w, fmt, out, project_path=pj)
    assert e.value.paths == output_paths(fmt, out)
    assert {f: f.stat().st_mtime_ns for f in first} == stamp  # untouched
    assert export(p, w, fmt, out, force=True, project_path=pj) == first
    assert {f: f.stat().st_mtime_ns for f in first} != stamp
    folder = tmp_path / ("dir.py" if fmt == "python" else "dir.x")
    folder.mkdir()
    if fmt == "bundle":  # a folder replaces a file or a folder, with force
        (folder / "old").write_text("")
        export(p, w, fmt, folder, force=True)
        assert sorted(f.name for f in folder.iterdir()) == ["model.safetensors", "project.json"]
    else:  # a file export never replaces a folder, forced or not
        with pytest.raises(DestinationError, match=f"{folder}: is a folder"):
            export(p, w, fmt, folder, force=True)
        assert folder.is_dir()


@pytest.mark.parametrize("fmt", ["bundle", "torchscript", "onnx", "pt2", "python"])
def test_files_get_the_usual_mode(tmp_path, fmt):
    p, pj, w = small(tmp_path)
    old = os.umask(0o022)
    try:
        files = export(p, w, fmt, tmp_path / f"e.{fmt}", project_path=pj)
        if fmt == "bundle":
            assert (tmp_path / "e.bundle").stat().st_mode & 0o777 == 0o755
        for f in files:
            assert f.stat().st_mode & 0o777 == 0o644, f
        os.umask(0o027)
        files = export(p, w, fmt, tmp_path / f"f.{fmt}", project_path=pj)
        if fmt == "bundle":
            assert (tmp_path / "f.bundle").stat().st_mode & 0o777 == 0o750
        for f in files:
            assert f.stat().st_mode & 0o777 == 0o640, f
    finally:
        os.umask(old)


@pytest.mark.slow  # the full tier (make test-all); the everyday tier < 10 min
def test_cli_export_refuses_the_project_and_asks_for_force(tmp_path):
    p, pj, w = small(tmp_path)
    before = pj.read_bytes()

    def run(*args):
        return subprocess.run([sys.executable, "-m", "app.cli", "export", str(pj), "--weights",
                               str(w), *map(str, args)], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)
    for fmt in ("torchscript", "bundle", "onnx"):
        for force in ([], ["--force"]):
            r = run("--format", fmt, "--out", pj, *force)
            assert r.returncode == 2, r.stderr
            assert r.stderr == f"error: {pj}: is the project file being exported; choose " \
                               "another name\n"
    r = run("--format", "bundle", "--out", tmp_path, "--force")
    assert r.returncode == 2 and r.stderr.startswith(f"error: {tmp_path}: holds the project")
    assert pj.read_bytes() == before
    out = tmp_path / "m.pt"
    out.write_bytes(b"mine")
    r = run("--format", "torchscript", "--out", out)
    assert r.returncode == 2
    assert r.stderr == f"error: {out}: already exists (pass --force to replace)\n"
    assert out.read_bytes() == b"mine"
    r = run("--format", "torchscript", "--out", out, "--force")
    assert r.returncode == 0 and r.stdout.strip() == str(out)
    assert torch.jit.load(str(out))(torch.rand(4, 3)).shape == (4, 2)


def test_an_image_folder_model_exports_its_classes_and_what_its_input_is(tmp_path):
    """A CNN trained on a folder of the user's images (issue 23, item 17): every export says
    which class each output index is (the subfolders, in the order training numbered them),
    and the python file says how a picture becomes the input (pixels / 255, the size, the
    colours), since nothing else tells a user of the file."""
    from PIL import Image
    from runtime.data import load_dataset
    rng = torch.Generator().manual_seed(0)
    for k, name in enumerate(["dog", "cat10", "cat2"]):
        (tmp_path / "pictures" / name).mkdir(parents=True)
        for i in range(2):
            a = (torch.rand(12, 10, 4, generator=rng) * 255).to(torch.uint8).numpy()
            Image.fromarray(a, "RGBA").save(tmp_path / "pictures" / name / f"{i}.png")
    project = load(ROOT / "templates" / "cnn.json")
    project.data.dataset = "images"
    project.data.options = {"path": "pictures", "channels": 1, "height": 8, "width": 8,
                            "fit": "crop"}
    project.save(tmp_path / "pets.json")
    classes = load_dataset("images", project.data.options, 0, tmp_path).classes
    assert classes == ["cat2", "cat10", "dog"]  # natural order: what training numbers 0, 1, 2
    save_weights(trained_model(project, None).model, tmp_path / "w.safetensors")

    def out(fmt, name):
        return export(project, tmp_path / "w.safetensors", fmt, tmp_path / name,
                      project_path=tmp_path / "pets.json")
    [py, _] = out("python", "pets.py")
    r = subprocess.run([sys.executable, "-c", "import sys, json; sys.path.insert(0, sys.argv[1]);"
                        " import pets; print(json.dumps([pets.CLASSES, pets.__doc__]))",
                        str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    listed, doc = json.loads(r.stdout)
    assert listed == classes and "CLASSES[i]" in doc
    flat = " ".join(doc.split())
    for says in ("image: N × 1 × 8 × 8", "/ 255", "8 × 8", "grey", "centre"):
        assert says in flat, (says, doc)
    out("bundle", "bundle")
    assert json.loads((tmp_path / "bundle" / "classes.json").read_text()) == classes
    [pt] = out("torchscript", "pets.pt")
    extra = {"classes.json": ""}
    torch.jit.load(str(pt), _extra_files=extra)
    assert json.loads(extra["classes.json"]) == classes
    import onnxruntime as ort
    [onnx_file] = out("onnx", "pets.onnx")
    meta = ort.InferenceSession(str(onnx_file)).get_modelmeta().custom_metadata_map
    assert json.loads(meta["classes"]) == classes
