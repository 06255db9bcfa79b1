"""The standalone Python export: user text (the project's name, the output file's name) reaches
the generated code only as repr() literals or checked identifiers, and the file finds its
weights beside itself, whatever the current directory."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graph.model import Graph
from graph.project import Project, load
from runtime.codegen import class_name, module_source
from runtime.export import export, trained_model
from runtime.weights import save_weights
from tests.graphs import chain

ROOT = Path(__file__).resolve().parents[2]
MARKER = "pwned"  # what the payloads below create in their current directory


def payload(quote: str) -> str:
    """An expression that creates MARKER, written with `quote` for its own strings."""
    return f"open({quote}{MARKER}{quote}, {quote}w{quote})"


NAMES = [
    f'Semicolon"""; {payload(chr(39))}; """',            # valid code once a docstring closes
    f'Docstring"""\n{payload(chr(39))}\n"""',            # closes a """ docstring
    f"Single'''\n{payload(chr(34))}\n'''",               # closes a ''' string
    f'Quote" if {payload(chr(39))} else "',              # closes a "..." literal
    f"Apostrophe' if {payload(chr(34))} else '",         # closes a '...' literal
    f'Back\\slash\\"""\n{payload(chr(39))}\n#',          # escapes and comments
    f"New\nline\n{payload(chr(39))}\n",                  # a line of its own
    "Trailing backslash\\",                              # escapes the closing quote
    "none",                                              # a keyword once capitalised
    "",                                                  # nothing at all
]


def small_project(name: str) -> Project:
    g = Graph()
    g.add_node("Input", "x", {"shape": [3]})
    last = chain(g, "x", [("Linear", "fc", {"out_features": 2}), ("Tanh", "t", {})])
    g.add_node("Output", "out")
    g.connect(last, "y", "out", "x")
    return Project(graph=g, name=name)


def weights_for(project: Project, folder: Path) -> Path:
    c = trained_model(project, None)
    folder.mkdir(parents=True, exist_ok=True)
    save_weights(c.model, folder / "w.safetensors")
    return folder / "w.safetensors"


def constant(tree: ast.Module, name: str):
    for node in tree.body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == [name]:
            return ast.literal_eval(node.value)
    raise AssertionError(f"no constant {name}")


def run_elsewhere(py: Path, cwd: Path, *args) -> subprocess.CompletedProcess:
    """Run the exported file's own __main__ from another folder."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, str(py), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def assert_safe_and_working(py: Path, name: str, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    r = run_elsewhere(py, elsewhere)
    for folder in (elsewhere, py.parent, ROOT):
        assert not (folder / MARKER).exists(), f"injected code ran in {folder}"
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "outputs: (2, 2)"
    tree = ast.parse(py.read_text())
    assert constant(tree, "PROJECT") == name
    assert constant(tree, "WEIGHTS_FILE") == py.with_suffix(".safetensors").name
    doc = ast.get_docstring(tree, clean=False)  # names the project, as repr() writes it
    assert f"from the project {name!r}" in doc and "PROJECT" not in doc, doc


@pytest.mark.parametrize("name", NAMES, ids=range(len(NAMES)))
def test_project_names_reach_the_file_only_as_literals(tmp_path, name):
    p = small_project(name)
    w = weights_for(p, tmp_path / "weights")
    out = tmp_path / "export"
    out.mkdir()
    files = export(p, w, "python", out / "model.py")
    assert files == [out / "model.py", out / "model.safetensors"]
    assert_safe_and_working(files[0], name, tmp_path)


@pytest.mark.parametrize("stem", ["w\" if open('pwned', 'w') else \"",
                                  "w' if open(\"pwned\", \"w\") else '",
                                  'w\\"""\nopen("pwned", "w")\n"""'])
def test_output_file_names_with_quotes(tmp_path, stem):
    """The weights file's name comes from the user's out path: it goes through repr too."""
    p = small_project("Plain")
    w = weights_for(p, tmp_path / "weights")
    [py, st] = export(p, w, "python", tmp_path / f"{stem}.py")
    assert py.name == f"{stem}.py" and st.name == f"{stem}.safetensors" and st.is_file()
    assert_safe_and_working(py, "Plain", tmp_path)


@pytest.mark.parametrize("name", NAMES, ids=range(len(NAMES)))
def test_module_source_is_safe_to_show_and_run(tmp_path, name, monkeypatch):
    """The in-app code view shows module_source: the class body holds no user text."""
    monkeypatch.chdir(tmp_path)
    c = trained_model(small_project(name), None)
    src = module_source(c, name)
    ns = {"nn": torch.nn, "torch": torch, "F": torch.nn.functional}
    exec(compile(src, "model.py", "exec"), ns)
    assert not (tmp_path / MARKER).exists()
    [cls] = ast.parse(src).body
    assert isinstance(cls, ast.ClassDef) and cls.name == class_name(name)
    assert cls.name.isidentifier() and cls.name not in ("None", "True", "False")
    m = ns[cls.name]()
    m.load_state_dict(c.model.state_dict())
    x = torch.rand(4, 3)
    with torch.no_grad():
        assert torch.equal(m(x), c.model(x))


@pytest.mark.slow  # over 4.5 s: the full tier (the everyday one stays under 10 min)
def test_the_file_finds_its_weights_from_any_folder(tmp_path):
    p = small_project("My Net")
    w = weights_for(p, tmp_path / "weights")
    (tmp_path / "exp").mkdir()
    [py, _] = export(p, w, "python", tmp_path / "exp" / "digits_net.py")
    r = run_elsewhere(py, tmp_path / "other")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "outputs: (2, 2)"
    code = ("import sys\nsys.path.insert(0, sys.argv[1])\nfrom digits_net import load\n"
            "m = load()\nprint(type(m).__name__)")
    r = subprocess.run([sys.executable, "-c", code, str(py.parent)], cwd=tmp_path / "other",
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "MyNet"
    # an explicit path still wins over the default
    (tmp_path / "other" / "copy.safetensors").write_bytes(py.with_suffix(".safetensors")
                                                          .read_bytes())
    py.with_suffix(".safetensors").unlink()
    r = run_elsewhere(py, tmp_path / "other", "copy.safetensors")
    assert r.returncode == 0, r.stderr


def test_usage_line_names_the_files_own_module(tmp_path):
    p = small_project("My Net")
    w = weights_for(p, tmp_path / "weights")
    export(p, w, "python", tmp_path / "digits_net.py")
    doc = ast.get_docstring(ast.parse((tmp_path / "digits_net.py").read_text()))
    assert "from digits_net import load" in doc and "my_net" not in doc
    export(p, w, "python", tmp_path / "2-model.py")  # not importable by that name
    doc = ast.get_docstring(ast.parse((tmp_path / "2-model.py").read_text()))
    assert " import " not in doc and "model = load()" in doc


@pytest.mark.slow  # over 4.5 s: the full tier (the everyday one stays under 10 min)
def test_cli_export_of_a_crafted_name_to_a_quoted_path(tmp_path):
    """The same through `layerloom export`, as a user runs it."""
    name = NAMES[0]
    project = load(ROOT / "templates" / "perceptron.json")
    project.name = name
    project.save(tmp_path / "p.json")
    w = weights_for(project, tmp_path / "weights")
    out = tmp_path / "out" / "x\" if open('pwned', 'w') else \".py"
    out.parent.mkdir()
    r = subprocess.run([sys.executable, "-m", "app.cli", "export", str(tmp_path / "p.json"),
                        "--weights", str(w), "--format", "python", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [str(out), str(out.with_suffix(".safetensors"))]
    r = run_elsewhere(out, tmp_path / "elsewhere")
    for folder in (tmp_path / "elsewhere", out.parent, ROOT):
        assert not (folder / MARKER).exists()
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "outputs: (2, 1)"
    assert constant(ast.parse(out.read_text()), "PROJECT") == name


def test_a_value_named_like_a_helper_does_not_shadow_it(tmp_path):
    """Nodes named time_step and reshape call the helpers time_step() and reshape(): in the
    file's forward their values get a trailing underscore (`time_step = time_step(x)` would
    make time_step a local and fail)."""
    g = Graph()
    g.add_node("Input", "x", {"shape": ["T", 3]})
    last = chain(g, "x", [("TimeStep", "time_step", {"index": -1}),
                          ("Reshape", "reshape", {"shape": [3, 1]})])
    g.add_node("Output", "out")
    g.connect(last, "y", "out", "x")
    p = Project(graph=g, name="Shadows")
    w = weights_for(p, tmp_path / "weights")
    [py, st] = export(p, w, "python", tmp_path / "shadows.py")
    src = py.read_text()
    assert "time_step_ = time_step(x, index = -1)" in src
    assert "reshape_ = reshape(time_step_, shape = [3, 1])" in src
    ns = {"__name__": "shadows"}
    exec(compile(src, str(py), "exec"), ns)
    m, c = ns["load"](str(st)), trained_model(p, None)
    for x in (torch.rand(2, 4, 3), torch.rand(5, 9, 3)):
        assert torch.equal(m(x), c.model(x))
    r = run_elsewhere(py, tmp_path / "elsewhere")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "outputs: (2, 3, 1)"


def test_helpers_come_with_the_ops_that_use_them():
    """used_ops follows what each op's source reads (ast names, not its docstring): LSTM brings
    _to_torch_state before it, Perceptron brings step; GRU's docstring naming RNN brings no RNN."""
    from runtime.codegen import used_ops
    g = Graph()
    g.add_node("Input", "x", {"shape": ["T", 3]})
    chain(g, "x", [("GRU", "gru", {"hidden_size": 4})])
    g.add_node("Output", "out")
    g.connect("gru", "y", "out", "x")
    assert used_ops(trained_model(Project(graph=g, name="g"), None)) == ["_to_torch_state",
                                                                         "GRU"]
    p = load(ROOT / "templates" / "perceptron.json")
    assert used_ops(trained_model(p, None)) == ["step", "Perceptron"]


def test_copied_helpers_read_no_module_the_file_does_not_import():
    """The standalone file imports torch, nn, F, math, functools and operator only (it says it
    needs only torch and safetensors): no function it may copy reads another module, except
    the accelerations it sets to None (issue 23, item 17: nms read numpy)."""
    import inspect
    import textwrap
    import types
    from runtime.codegen import _NOT_COPIED, _ops_defs
    imported = {"torch", "nn", "F", "math", "functools", "operator"}
    for name, obj in _ops_defs().items():
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        module = vars(sys.modules[obj.__module__])
        tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
        read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
                and isinstance(n.ctx, ast.Load)
                and isinstance(module.get(n.id), types.ModuleType)}
        assert read <= imported | set(_NOT_COPIED), (name, read - imported)
