"""runtime.checkpoint: a damaged checkpoint is one CheckpointError naming the file and the field,
never a KeyError or a traceback; and a resumed Trainer reports it as a plain failure."""
import json
import os

import pytest
import torch
from safetensors.torch import load_file, save_file

from graph.project import load as load_project
from runtime import checkpoint as ckpt
from runtime.checkpoint import CheckpointError, Position
from runtime.train import Trainer

TEMPLATES = __import__("templates").FOLDER


def write_checkpoint(folder, optimizer=True, extra=None):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.01) if optimizer else None
    if opt is not None:
        model(torch.randn(5, 4)).sum().backward()
        opt.step()
    shuffle = torch.Generator().manual_seed(1)
    order = torch.randperm(10, generator=shuffle)
    ckpt.write(folder, ckpt.snapshot(model, opt, Position(7, 2, 5, 40), order, shuffle, extra))
    return model, opt


@pytest.fixture
def folder(tmp_path):
    f = tmp_path / "runs" / "p" / "20260101-000000" / "checkpoints" / "last"
    write_checkpoint(f, extra={"settings": {"lr": 0.01}})
    return f


def test_round_trip(tmp_path):
    model, opt = write_checkpoint(tmp_path / "c", extra={"settings": {"lr": 0.01}, "note": 3})
    got = ckpt.load(tmp_path / "c")
    assert got.position == Position(7, 2, 5, 40)
    assert sorted(got.order.tolist()) == list(range(10))
    for k, v in model.state_dict().items():
        assert torch.equal(got.model[k], v)
    ref = opt.state_dict()
    assert got.optimizer_state["param_groups"][0]["params"] == ref["param_groups"][0]["params"]
    assert torch.equal(got.optimizer_state["state"][0]["exp_avg"], ref["state"][0]["exp_avg"])
    fresh = torch.optim.Adam(torch.nn.Sequential(torch.nn.Linear(4, 3),
                                                 torch.nn.Linear(3, 2)).parameters())
    fresh.load_state_dict(got.optimizer_state)  # what the Trainer does with it
    assert got.info["settings"] == {"lr": 0.01} and got.info["extra"] == {"note": 3}
    write_checkpoint(tmp_path / "n", optimizer=False)
    assert ckpt.load(tmp_path / "n").optimizer_state is None


# One damage each: (what to do to the folder, the file named, what the message says) -----------

def edit_json(change):
    def apply(folder):
        path = folder / "trainer.json"
        info = json.loads(path.read_text())
        change(info)
        path.write_text(json.dumps(info))
    return apply


def edit_tensors(name, change):
    def apply(folder):
        tensors = load_file(folder / name)
        change(tensors)
        save_file(tensors, folder / name)
    return apply


def rename(old, new):
    return lambda t: t.__setitem__(new, t.pop(old))


def put(key, value):
    return lambda t: t.__setitem__(key, value)


def truncate(name, keep=0.5):
    def apply(folder):
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[:int(len(data) * keep)])
    return apply


def write(name, data: bytes):
    return lambda folder: (folder / name).write_bytes(data)


CASES = {
    "model not safetensors": (write("model.safetensors", b"PK\x03\x04 a zip, say"),
                              "model.safetensors", "not a readable safetensors file"),
    "model empty": (write("model.safetensors", b""), "model.safetensors",
                    "not a readable safetensors file"),
    "model truncated": (truncate("model.safetensors"), "model.safetensors",
                        "not a readable safetensors file"),
    "optimizer truncated": (truncate("optimizer.safetensors", 0.9), "optimizer.safetensors",
                            "not a readable safetensors file"),
    "state missing": (lambda f: os.unlink(f / "state.safetensors"), "state.safetensors",
                      "incomplete checkpoint (state.safetensors is missing)"),
    "trainer.json missing": (lambda f: os.unlink(f / "trainer.json"), "trainer.json",
                             "incomplete checkpoint (trainer.json is missing)"),
    "trainer.json not JSON": (write("trainer.json", b"step=7\n"), "trainer.json",
                              "line 1, column 1: not valid JSON"),
    "trainer.json truncated": (truncate("trainer.json"), "trainer.json",
                               "not valid JSON: Expecting"),
    "trainer.json not text": (write("trainer.json", b"\xff\xfe\x00"), "trainer.json",
                              "not a text file"),
    "trainer.json a list": (write("trainer.json", b"[1, 2]"), "trainer.json",
                            "not a LayerLoom checkpoint"),
    "another format": (edit_json(lambda i: i.update(format="layerloom.project")),
                       "trainer.json", "not a LayerLoom checkpoint"),
    "unknown key": (edit_json(lambda i: i.update(learning_rate=1)), "trainer.json",
                    "learning_rate: unknown field (a typo?)"),
    "unknown position key": (edit_json(lambda i: i["position"].update(stepp=1)),
                             "trainer.json", "position.stepp: unknown field (a typo?)"),
    "missing field": (edit_json(lambda i: i["position"].pop("epoch")), "trainer.json",
                      "position.epoch: this field is required"),
    "negative step": (edit_json(lambda i: i["position"].update(step=-3)), "trainer.json",
                      "position.step: must be >= 0"),
    "epoch 0": (edit_json(lambda i: i["position"].update(epoch=0)), "trainer.json",
                "position.epoch: must be >= 1"),
    "step a string": (edit_json(lambda i: i["position"].update(step="7")), "trainer.json",
                      "position.step: must be a whole number"),
    "step a float": (edit_json(lambda i: i["position"].update(step=7.5)), "trainer.json",
                     "position.step: must be a whole number"),
    "position a list": (edit_json(lambda i: i.update(position=[7, 2, 5, 40])), "trainer.json",
                        "position: must be a JSON object"),
    "optimizer a number": (edit_json(lambda i: i.update(optimizer=5)), "trainer.json",
                           "optimizer: must be a JSON object"),
    "param ids strings": (edit_json(lambda i: i["optimizer"]["param_groups"][0].update(
        params=["fc1"])), "trainer.json", "optimizer.param_groups[0].params[0]: must be a "
                                          "whole number"),
    "lr a string": (edit_json(lambda i: i["optimizer"]["param_groups"][0].update(lr="fast")),
                    "trainer.json", "optimizer.param_groups[0].lr: must be a number"),
    "no param groups": (edit_json(lambda i: i["optimizer"].update(param_groups=[])),
                        "trainer.json", "optimizer.param_groups: must not be empty"),
    "plain state of no parameter": (edit_json(lambda i: i["optimizer"]["state"].update(
        {"x": {"step": 1}})), "trainer.json", "optimizer.state.x: not the id of a parameter"),
    "optimizer key without id": (edit_tensors("optimizer.safetensors",
                                              rename("0.exp_avg", "exp_avg")),
                                 "optimizer.safetensors", "exp_avg: an optimizer tensor is "
                                                          "named <parameter id>.<name>"),
    "optimizer key of no parameter": (edit_tensors("optimizer.safetensors",
                                                   rename("0.exp_avg", "9.exp_avg")),
                                      "optimizer.safetensors",
                                      "9.exp_avg: parameter 9 is not in trainer.json"),
    "optimizer key with two dots": (edit_tensors("optimizer.safetensors",
                                                 rename("0.exp_avg", "0.exp.avg")),
                                    "optimizer.safetensors", "0.exp.avg: an optimizer tensor"),
    "state rng missing": (edit_tensors("state.safetensors", lambda t: t.pop("shuffle_rng")),
                          "state.safetensors", "shuffle_rng: this tensor is required"),
    "state rng floats": (edit_tensors("state.safetensors",
                                      put("torch_rng", torch.zeros(5056))),
                         "state.safetensors", "torch_rng: must be a 1-D uint8 tensor"),
    "state rng too short": (edit_tensors("state.safetensors",
                                         put("torch_rng", torch.zeros(16, dtype=torch.uint8))),
                            "state.safetensors", "torch_rng: not a random generator's state"),
    "state unknown tensor": (edit_tensors("state.safetensors",
                                          put("rng", torch.zeros(1, dtype=torch.uint8))),
                             "state.safetensors", "rng: unknown tensor"),
    "order floats": (edit_tensors("state.safetensors", put("order", torch.arange(10.0))),
                     "state.safetensors", "order: must be a 1-D int64 tensor, found 1-D float32"),
    "order 2-D": (edit_tensors("state.safetensors",
                               put("order", torch.arange(10).reshape(2, 5))),
                  "state.safetensors", "order: must be a 1-D int64 tensor, found 2-D int64"),
    "order not a permutation": (edit_tensors("state.safetensors",
                                             put("order", torch.full((10,), 3))),
                                "state.safetensors", "order: must be an order of the samples"),
    "next index past the order": (edit_json(lambda i: i["position"].update(next_index=11)),
                                  "trainer.json", "position.next_index: must be <= 10"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_damage_is_a_checkpoint_error_naming_file_and_field(folder, case):
    damage, name, message = CASES[case]
    damage(folder)
    with pytest.raises(CheckpointError) as info:
        ckpt.load(folder)
    text = str(info.value)
    assert text.startswith(f"{folder / name}: "), text
    assert message in text, text
    assert "Traceback" not in text


def test_missing_folder(tmp_path):
    with pytest.raises(CheckpointError, match="incomplete checkpoint"):
        ckpt.load(tmp_path / "none")


def test_a_save_killed_between_its_renames_is_recovered_on_load(folder):
    os.replace(folder, folder.with_name(".last.old"))  # `last` -> `.last.old`, then the kill
    got = ckpt.load(folder)
    assert got.position.step == 7 and os.listdir(folder.parent) == ["last"]


# End to end: the trainer reports it without a traceback ----------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    p = load_project(TEMPLATES / "mlp.json")
    t = Trainer(p, device="cpu", max_steps=3)
    assert list(t.run())[-1].kind == "finished"
    good = tmp_path_factory.mktemp("ckpt") / "last"
    t.save_checkpoint(good)
    return p, good


@pytest.mark.parametrize("case", ["model not safetensors", "state missing", "unknown key",
                                  "step a string", "negative step", "optimizer key without id",
                                  "optimizer key of no parameter", "model truncated",
                                  "trainer.json not JSON"])
def test_resume_from_a_damaged_checkpoint_fails_plainly(trained, tmp_path, case):
    import shutil
    p, good = trained
    folder = tmp_path / "last"
    shutil.copytree(good, folder)
    damage, name, message = CASES[case]
    damage(folder)
    events = list(Trainer(p, device="cpu", max_steps=6, resume_from=folder).run())
    fail = events[-1]
    assert fail.kind == "failed", [e.kind for e in events]
    assert str(folder / name) in fail.message and message in fail.message, fail.message
    assert "Traceback" not in fail.message and "Internal error" not in fail.message


def test_resume_from_the_undamaged_copy_works(trained, tmp_path):
    import shutil
    p, good = trained
    shutil.copytree(good, tmp_path / "last")
    events = list(Trainer(p, device="cpu", max_steps=6, resume_from=tmp_path / "last").run())
    assert events[-1].kind == "finished" and events[-1].step == 6


def test_resume_after_the_data_changed_size_names_the_order(trained, tmp_path):
    """A checkpoint whose epoch order covers another number of samples (the dataset was
    edited): an IndexError at the next step before."""
    import shutil
    p, good = trained
    shutil.copytree(good, tmp_path / "last")
    changed = load_project(TEMPLATES / "mlp.json")
    changed.data.options = {**changed.data.options, "n_samples": 800}
    events = list(Trainer(changed, device="cpu", max_steps=6, resume_from=tmp_path / "last").run())
    fail = events[-1]
    assert fail.kind == "failed"
    assert str(tmp_path / "last" / "state.safetensors") in fail.message
    assert "order" in fail.message and "Traceback" not in fail.message, fail.message


def test_resume_with_an_optimizer_tensor_of_the_wrong_shape_names_it(trained, tmp_path):
    import shutil
    import torch
    from safetensors.torch import load_file, save_file
    p, good = trained
    folder = tmp_path / "last"
    shutil.copytree(good, folder)
    tensors = load_file(folder / "optimizer.safetensors")
    key = next(k for k in tensors if k.endswith("exp_avg"))
    tensors[key] = torch.zeros(3, 3)
    save_file(tensors, folder / "optimizer.safetensors")
    fail = list(Trainer(p, device="cpu", max_steps=6, resume_from=folder).run())[-1]
    assert fail.kind == "failed"
    assert str(folder / "optimizer.safetensors") in fail.message and key in fail.message
    assert "Traceback" not in fail.message, fail.message
