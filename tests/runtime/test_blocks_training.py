"""Training a model with blocks (issue 25): the Trainer runs a classifier with a repeated
block, logs a run folder whose gradient statistics name the inner nodes by their dotted ids,
saves checkpoints and resumes from them, and the Try panel's runtime loads the run."""
import json

import torch

from graph.model import Graph
from graph.project import Project, load
from runtime.runs import list_runs, new_run_folder, read_csv, run_with_logging
from runtime.train import Trainer
from runtime.tryout import Tryout
from tests.graphs import basic_block


def blocks_classifier() -> Project:
    """Digits (1 × 8 × 8): a conv stem, two basic blocks (a repeated instance), a shared
    one applied twice, global pooling, a dense layer, softmax."""
    g = Graph()
    basic_block(g)
    g.add_node("Input", "image", {"shape": [1, 8, 8]})
    g.add_node("Conv2d", "stem", {"out_channels": 8, "kernel_size": 3, "padding": 1})
    g.add_node("block:basic", "stage", {"repeat": 2})
    g.add_node("block:basic", "tied", {"repeat": 2, "share_weights": True})
    g.add_node("Flatten", "flatten")
    g.add_node("Linear", "dense", {"out_features": 10})
    g.add_node("Softmax", "softmax", {"dim": 1})
    g.add_node("Output", "probs")
    g.add_node("Target", "label", {"shape": [], "dtype": "int64"})
    g.add_node("CategoricalCrossEntropyLoss", "loss")
    g.connect("image", "out", "stem", "x")
    g.connect("stem", "y", "stage", "x")
    g.connect("stage", "y", "tied", "x")
    g.connect("tied", "y", "flatten", "x")
    for a, b in (("flatten", "dense"), ("dense", "softmax"), ("softmax", "probs")):
        g.connect(a, "y", b, "x")
    g.connect("softmax", "y", "loss", "pred")
    g.connect("label", "out", "loss", "target")
    p = Project(graph=g, name="Blocks digits")
    p.training.batch_size = 32
    p.training.lr = 0.005
    p.training.optimizer = "adam"
    p.training.epochs = 2
    p.data.dataset = "digits"
    p.data.bind = {"image": "x", "label": "y"}
    return p


def test_trains_logs_inner_nodes_checkpoints_resumes_and_tries(tmp_path):
    p = blocks_classifier()
    p.save(tmp_path / "blocks.json")
    p = load(tmp_path / "blocks.json")  # through the project file (schema 2, blocks kept)
    folder = new_run_folder(tmp_path / "runs")
    t = Trainer(p, device="cpu", log_every=5)
    grads = []
    for e in run_with_logging(t, p, folder):
        if e.kind == "gradstats":
            grads.append(e)
        if e.kind == "step" and e.step == 20:
            t.stop()
    [run] = list_runs(tmp_path / "runs")
    assert run.status == "stopped" and run.resumable and run.steps == 20
    inner = {"stage.0.conv1", "stage.1.conv2", "tied.0.conv1"}
    assert grads and inner <= set(grads[-1].norms)  # per layer, by dotted id
    assert "tied.1.conv1" not in grads[-1].norms  # a shared repetition is one layer,
    # trained once (no parameter twice in the optimizer)
    ps = [q for qs in t._ctx.by_layer.values() for q in qs]
    assert len(ps) == len({id(q) for q in ps}) == len(list(t.compiled.modules.parameters()))
    assert inner <= set(read_csv(folder / "grads.csv"))
    ck = folder / "checkpoints" / "last"
    from safetensors.torch import load_file
    keys = set(load_file(str(ck / "model.safetensors")))
    assert {"stage.1.conv2.weight", "tied.bn1.running_mean", "dense.weight"} <= keys

    before = {k: v.clone() for k, v in t.compiled.modules.state_dict().items()}
    t2 = Trainer(p, device="cpu", resume_from=ck, max_steps=30)
    resumed = list(run_with_logging(t2, p, folder, resume=True))
    assert resumed[-1].kind == "finished", resumed[-1]
    assert resumed[-1].step == 30
    after = t2.compiled.modules.state_dict()
    assert not torch.equal(after["stage.1.conv2.weight"], before["stage.1.conv2.weight"])
    info = json.loads((folder / "run.json").read_text())
    assert info["resumed"] == 1

    tr = Tryout(p, None, folder)  # the run folder: its best checkpoint, else its last
    s = tr.sample(0)
    assert s.outputs["probs"].shape == (10,) and s.kinds["probs"] == "scores"
    loaded = load_file(str(tr.weights))
    assert torch.equal(tr.compiled.model.state_dict()["stage.1.conv2.weight"],
                       loaded["stage.1.conv2.weight"])
