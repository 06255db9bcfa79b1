"""A project's starting weights (training.initial_weights, `layerloom train --weights`): an
imported module's PROJECT.safetensors is where training starts, not a fresh initialisation."""
import csv
import json
import random

import pytest
import torch

from graph.project import load
from runtime.importer import InputSpec, import_model
from runtime.start_weights import load_start, resolve
from runtime.train import Trainer
from runtime.weights import save_weights
from tests.zoo.nets import MLP


def write_csv(path, n=40, seed=0):
    rnd = random.Random(seed)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "c", "d", "label"])
        for i in range(n):
            w.writerow([round(rnd.uniform(-1, 1), 3) for _ in range(4)] + [i % 3])


def imported_project(folder, standardize=False, set_field=True):
    """tests/zoo/nets.py's MLP imported and saved as folder/P.json (+ P.safetensors), then
    given a Target, a loss and a CSV dataset; training.initial_weights as the importer sets
    it, or (set_field=False) cleared. Returns (the original module, the project's path)."""
    torch.manual_seed(1)
    module = MLP().eval()
    import_model(module, [InputSpec("x", (1, 4))]).save(folder / "P.json")
    write_csv(folder / "d.csv")
    p = load(folder / "P.json")
    g = p.graph
    g.add_node("Target", params={"shape": [], "dtype": "int64"}, pos=(0, 350))
    g.rename_node("target1", "label")
    g.add_node("CategoricalCrossEntropyLoss", params={"from_logits": True}, pos=(300, 350))
    loss = g.nodes()[-1]
    g.connect("fc2", "y", loss, "pred")
    g.connect("label", "out", loss, "target")
    p.data.dataset = "csv"
    p.data.options = {"path": "d.csv", "label": "label"}
    p.data.bind = {"x": "x", "label": "y"}
    p.data.standardize = standardize
    p.training.epochs = 1
    p.training.device = "cpu"
    # the importer sets the field itself; without it, the project starts fresh
    p.training.initial_weights = "P.safetensors" if set_field else ""
    p.save(folder / "P.json")
    return module, folder / "P.json"


def first_output(trainer, x):
    """The model's output on x at the Started event (before any step), in eval mode."""
    for ev in trainer.run():
        if ev.kind == "started":
            trainer.model.eval()
            with torch.no_grad():
                y = trainer.model(x)
            trainer.model.train()
            return y, trainer
        assert ev.kind != "failed", ev.message
    raise AssertionError("no Started event")


def test_training_starts_from_the_imported_weights(tmp_path):
    module, path = imported_project(tmp_path)
    x = torch.randn(5, 4)
    y, trainer = first_output(Trainer(load(path), base_dir=tmp_path, max_steps=1), x)
    with torch.no_grad():
        assert torch.equal(y, module(x))
    assert trainer.started_from == tmp_path / "P.safetensors"
    events = list(trainer.run())  # a whole run (one step) from them
    assert events[-1].kind == "finished" and events[-1].step == 1


def test_without_the_field_training_starts_fresh(tmp_path):
    module, path = imported_project(tmp_path, set_field=False)
    x = torch.randn(5, 4)
    y, trainer = first_output(Trainer(load(path), base_dir=tmp_path, max_steps=1), x)
    assert not torch.allclose(y, module(x))
    assert trainer.started_from is None


def test_an_override_wins_over_the_projects_field(tmp_path):
    _module, path = imported_project(tmp_path)
    torch.manual_seed(7)
    other = MLP().eval()
    imp = import_model(other, [InputSpec("x", (1, 4))])
    (tmp_path / "other").mkdir()
    save_weights(imp.compiled.modules, tmp_path / "other" / "W.safetensors")
    x = torch.randn(3, 4)
    y, trainer = first_output(Trainer(load(path), base_dir=tmp_path, max_steps=1,
                                      initial_weights=tmp_path / "other"), x)  # a folder
    with torch.no_grad():
        assert torch.equal(y, other(x))
    assert trainer.started_from == tmp_path / "other" / "W.safetensors"


def test_a_resumed_run_ignores_them(tmp_path):
    _module, path = imported_project(tmp_path)
    project = load(path)
    t = Trainer(project, base_dir=tmp_path, max_steps=1)
    assert list(t.run())[-1].kind == "finished"
    t.save_checkpoint(tmp_path / "ck")
    (tmp_path / "P.safetensors").unlink()  # gone: the checkpoint is what counts
    events = list(Trainer(project, base_dir=tmp_path, max_steps=2,
                          resume_from=tmp_path / "ck").run())
    assert events[-1].kind == "finished", events[-1]


@pytest.mark.parametrize("case", ["missing", "names", "shape", "garbage"])
def test_bad_starting_weights_are_named(tmp_path, case):
    _module, path = imported_project(tmp_path)
    project = load(path)
    w = tmp_path / "P.safetensors"
    if case == "missing":
        w.unlink()
    elif case == "names":
        save_weights(torch.nn.ModuleDict({"dense": torch.nn.Linear(4, 3)}), w)
    elif case == "shape":
        project.graph.set_param("fc1", "out_features", 8)
        project.graph.set_param("fc2", "in_features", 8)
    else:
        w.write_bytes(b"not safetensors")
    events = list(Trainer(project, base_dir=tmp_path, max_steps=1).run())
    failed = events[-1]
    assert failed.kind == "failed"
    assert failed.message.startswith("training.initial_weights: ")
    assert str(w) in failed.message
    assert not any(e.kind == "step" for e in events)
    if case == "names":
        assert "fc1" in failed.message and failed.node == "fc1"
    if case == "shape":
        assert "'fc1.weight' has shape (16, 4)" in failed.message and failed.node == "fc1"


def test_standardizers_fitted_unless_the_file_holds_them(tmp_path):
    """An imported file has no standardizer: it is fitted on the training split as usual. A
    file that holds one (a run's weights) keeps its fitted values."""
    _module, path = imported_project(tmp_path, standardize=True)
    project = load(path)
    t = Trainer(project, base_dir=tmp_path, max_steps=1)
    assert list(t.run())[-1].kind == "finished"
    std = t.compiled.standardizers["x"]
    fitted = {k: v.clone() for k, v in t.compiled.modules.get_submodule(std).state_dict().items()}
    assert fitted and not all(torch.equal(v, torch.zeros_like(v)) for v in fitted.values())
    # a file with the standardizer's values: kept, not fitted again
    state = dict(t.compiled.modules.state_dict())
    marked = {k: (torch.full_like(v, 0.5) if k.startswith(std + ".") and v.is_floating_point()
                  else v) for k, v in state.items()}
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in marked.items()}, tmp_path / "run.safetensors")
    t2 = Trainer(project, base_dir=tmp_path, max_steps=1,
                 initial_weights=tmp_path / "run.safetensors")
    for ev in t2.run():
        if ev.kind == "started":
            kept = t2.compiled.modules.get_submodule(std).state_dict()
            assert all(torch.all(v == 0.5) for v in kept.values() if v.is_floating_point())
    assert ev.kind == "finished"


def test_load_start_into_a_compiled_graph(tmp_path):
    from runtime.compile import compile_graph
    module, path = imported_project(tmp_path)
    c = compile_graph(load(path).graph)
    assert load_start(c, tmp_path / "P.safetensors") == set()
    x = torch.randn(2, 4)
    with torch.no_grad():
        assert torch.equal(c.model.eval()(x), module(x))
    assert resolve("", tmp_path) is None
    assert resolve("a/P.safetensors", tmp_path) == tmp_path / "a" / "P.safetensors"
    assert resolve(str(tmp_path / "Q.safetensors"), "/elsewhere") == tmp_path / "Q.safetensors"


# The CLI ---------------------------------------------------------------------------------------

def run_cli(args, capsys):
    from app.cli import main
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_trains_from_the_projects_weights_and_weights_overrides(tmp_path, capsys):
    _module, path = imported_project(tmp_path)
    code, out, err = run_cli(["train", str(path), "--max-steps", "1", "--no-progress",
                              "--json"], capsys)
    assert code == 0, err
    assert json.loads(out.splitlines()[-1])["initial_weights"] == str(tmp_path / "P.safetensors")
    assert "starting from the weights in" in err
    other = tmp_path / "W.safetensors"
    other.write_bytes((tmp_path / "P.safetensors").read_bytes())
    code, out, err = run_cli(["train", str(path), "--max-steps", "1", "--no-progress",
                              "--json", "--weights", str(other)], capsys)
    assert code == 0, err
    assert json.loads(out.splitlines()[-1])["initial_weights"] == str(other)


@pytest.mark.parametrize("case", ["missing", "names", "project_field"])
def test_cli_refuses_bad_weights_with_exit_2(tmp_path, capsys, case):
    _module, path = imported_project(tmp_path)
    bad = tmp_path / "bad.safetensors"
    if case == "names":
        save_weights(torch.nn.ModuleDict({"dense": torch.nn.Linear(4, 3)}), bad)
    args = ["train", str(path), "--max-steps", "1", "--no-progress"]
    if case == "project_field":
        (tmp_path / "P.safetensors").unlink()
    else:
        args += ["--weights", str(bad)]
    out_dir = tmp_path / "out" / "deep"
    code, out, err = run_cli(args + ["--out", str(out_dir)], capsys)
    assert code == 2
    assert "Traceback" not in err + out
    where = "training.initial_weights" if case == "project_field" else "--weights"
    assert err.startswith(f"error: {where}: ")
    assert (str(tmp_path / "P.safetensors") if case == "project_field" else str(bad)) in err
    if case == "names":
        assert "fc1" in err
    assert not (tmp_path / "out").exists()  # no empty folders left behind
