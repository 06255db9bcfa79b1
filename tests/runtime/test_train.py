import copy
import math
import subprocess
import sys
from pathlib import Path
import threading

import pytest
import torch

from graph.model import Graph
from graph.project import Project, load
from graph.settings import DataSettings, TrainingSettings
from runtime.train import Trainer
from tests.graphs import chain, classifier_head

TEMPLATES = __import__("templates").FOLDER
ROOT = Path(__file__).resolve().parents[2]


def mlp_project(dataset="spirals", epochs=3, **training) -> Project:
    g = Graph()
    g.add_node("Input", "x", {"shape": [2]})
    last = chain(g, "x", [("Linear", "fc1", {"out_features": 32, "init": "he"}),
                          ("ReLU", "r1", {}), ("Linear", "fc2", {"out_features": 2}),
                          ("Softmax", "sm", {})])
    classifier_head(g, last)
    settings = dict(optimizer="adam", lr=0.01, batch_size=32, epochs=epochs, device="cpu")
    settings.update(training)
    return Project(graph=g, training=TrainingSettings(**settings),
                   data=DataSettings(dataset=dataset, bind={"x": "x", "label": "y"}))


def run(project, **kw):
    return list(Trainer(project, **kw).run())


def test_event_stream():
    events = run(mlp_project(epochs=2), log_every=5)
    kinds = [e.kind for e in events]
    assert kinds[0] == "started" and kinds[-1] == "finished"
    assert kinds.count("epochend") == 2
    started = events[0]
    assert started.layers == ["fc1", "fc2"] and started.steps_per_epoch == 25
    steps = [e for e in events if e.kind == "step"]
    assert [s.step for s in steps][:3] == [5, 10, 15]
    assert all(s.samples_per_s > 0 and s.lr == 0.01 for s in steps)
    grads = [e for e in events if e.kind == "gradstats"]
    assert len(grads) == len(steps) and set(grads[0].norms) == {"fc1", "fc2"}
    assert all(v > 0 for g in grads for v in g.norms.values())
    end = [e for e in events if e.kind == "epochend"][-1]
    assert set(end.metrics) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    fin = events[-1]
    assert fin.step == 50 and fin.metrics["loss"] == fin.final_loss
    assert fin.to_dict()["event"] == "finished"


def test_fixed_seed_reproduces_the_run():
    a, b = Trainer(mlp_project()), Trainer(mlp_project())
    ea, eb = list(a.run()), list(b.run())
    assert [e.loss for e in ea if e.kind == "step"] == [e.loss for e in eb if e.kind == "step"]
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k])
    c = Trainer(mlp_project(seed=1))
    list(c.run())
    assert not torch.equal(c.model.fc1.weight, a.model.fc1.weight)


def test_stop_leaves_the_weights_of_the_last_full_step():
    t = Trainer(mlp_project(epochs=50), log_every=1)
    stopped_at = None
    for e in t.run():
        if e.kind == "step" and e.step == 37:
            t.stop()
        if e.kind == "stopped":
            stopped_at = e.step
    assert stopped_at == 37
    ref = Trainer(mlp_project(epochs=50), max_steps=37)
    list(ref.run())
    for k, v in ref.model.state_dict().items():
        assert torch.equal(v, t.model.state_dict()[k]), k


def run_in_thread(t: Trainer):
    """Consume the run's events in a thread, as the GUI's worker does; returns when the first
    step has happened."""
    seen = []

    def consume():
        for e in t.run():
            seen.append(e)
    th = threading.Thread(target=consume)
    th.start()
    while not any(e.kind == "step" for e in seen):
        th.join(0.01)
    return th, seen


def test_stop_from_another_thread():
    t = Trainer(mlp_project(epochs=100_000))
    th, seen = run_in_thread(t)
    t.stop()
    th.join(5)
    assert not th.is_alive() and seen[-1].kind == "stopped"


def test_max_steps_and_epochs_override():
    events = run(mlp_project(epochs=10), max_steps=7)
    assert events[-1].kind == "finished" and events[-1].step == 7
    events = run(mlp_project(epochs=10), epochs=1)
    assert events[-1].step == 25


@pytest.mark.parametrize("optimizer, steps_per_epoch", [("gd", 1), ("sgd", 800),
                                                         ("minibatch", 25), ("adam", 25)])
def test_optimizers_of_the_seed_notes(optimizer, steps_per_epoch):
    lr = {"gd": 0.5, "sgd": 0.01, "minibatch": 0.1, "adam": 0.01}[optimizer]
    p = mlp_project(dataset="blobs", epochs=3, optimizer=optimizer, lr=lr, momentum=0.5,
                    weight_decay=1e-4, clip_norm=5.0)
    p.data.options = {"n_samples": 1000}
    events = run(p)
    assert events[0].steps_per_epoch == steps_per_epoch
    assert events[-1].kind == "finished"
    assert events[-1].metrics["val_accuracy"] >= 0.97


def test_gradient_norms_are_measured_before_clipping():
    p = mlp_project(epochs=1, clip_norm=1e-6, optimizer="minibatch", lr=0.1)
    grads = [e for e in run(p) if e.kind == "gradstats"]
    assert max(v for g in grads for v in g.norms.values()) > 1e-3


def diverging_project() -> Project:
    """MSE regression with plain SGD at lr 10: the loss overflows within a few steps."""
    g = Graph()
    g.add_node("Input", "x", {"shape": [2]})
    last = chain(g, "x", [("Linear", "fc1", {"out_features": 16}),
                          ("Linear", "fc2", {"out_features": 1})])
    classifier_head(g, last, loss="MSELoss", target_dtype="float32")
    return Project(graph=g, training=TrainingSettings(optimizer="minibatch", lr=10, epochs=50,
                                                      device="cpu"),
                   data=DataSettings(dataset="blobs"))


def test_non_finite_loss_names_the_layer_and_keeps_finite_weights():
    p = diverging_project()
    t = Trainer(p)
    events = list(t.run())
    fail = events[-1]
    assert fail.kind == "failed"
    assert "the loss became" in fail.message
    assert "The first layer whose gradient went non-finite is Linear 'fc1'" in fail.message
    assert fail.node == "fc1"
    assert "learning rate" in fail.message
    for v in t.model.state_dict().values():
        assert torch.isfinite(v).all()


def test_supervised_recipe_refuses_a_perceptron():
    p = load(TEMPLATES / "perceptron.json")
    p.training.recipe = "supervised"
    fail = run(p)[-1]
    assert fail.kind == "failed" and fail.node == "perceptron"
    assert "set the training recipe to 'perceptron'" in fail.message


def test_perceptron_rule_matches_the_seed_example():
    """w = (0.5, −0.6), b = 0.2, x = (1, 2): z = −0.5 → ŷ = 0. With y = 1 and η = 0.1:
    w ← w + η (y − ŷ) x = (0.6, −0.4), b ← b + η (y − ŷ) = 0.3."""
    from runtime.compile import compile_graph
    p = load(TEMPLATES / "perceptron.json")
    p.training.lr = 0.1
    from runtime.recipes import PerceptronRule
    t = Trainer(p)
    t.compiled = c = compile_graph(p.graph)
    rule = PerceptronRule(t, c, [], ["x", "label"])
    m = c.modules.perceptron
    with torch.no_grad():
        m.weight.copy_(torch.tensor([[0.5, -0.6]]))
        m.bias.copy_(torch.tensor([0.2]))
    x, y = torch.tensor([[1.0, 2.0]]), torch.tensor([1])
    out = c.objective(x, y)
    assert out["taps"]["perceptron"][1].item() == 0.0
    with torch.no_grad():
        rule.update(out, [x, y])
    assert torch.allclose(m.weight, torch.tensor([[0.6, -0.4]]))
    assert torch.allclose(m.bias, torch.tensor([0.3]))
    # A correct prediction changes nothing.
    out = c.objective(x, y)
    with torch.no_grad():
        rule.update(out, [x, y])
    assert torch.allclose(m.weight, torch.tensor([[0.6, -0.4]]))


@pytest.mark.slow  # over 4.5 s: the full tier (the everyday one stays under 10 min)
def test_perceptron_separates_blobs_but_not_spirals_which_the_mlp_learns():
    p = load(TEMPLATES / "perceptron.json")
    fin = run(p, device="cpu")[-1]
    assert fin.metrics["accuracy"] == 1.0 and fin.metrics["val_accuracy"] == 1.0
    p.data.dataset, p.data.options = "spirals", {"n_samples": 1000}
    fin = run(p, device="cpu")[-1]
    assert fin.metrics["accuracy"] < 0.75  # a line cannot split two spirals
    mlp = load(TEMPLATES / "mlp.json")
    fin = run(mlp, device="cpu")[-1]
    assert fin.metrics["accuracy"] >= 0.97 and fin.metrics["val_accuracy"] >= 0.97


def test_cnn_template_quality_after_fixed_steps():
    fin = run(load(TEMPLATES / "cnn.json"), device="cpu")[-1]
    assert fin.kind == "finished" and fin.step == 675
    assert fin.metrics["val_accuracy"] >= 0.95


def test_unavailable_device_fails_clearly():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    fail = run(mlp_project(), device="cuda")[-1]
    assert fail.kind == "failed"
    assert fail.message == "device 'cuda' was asked for, but this machine has none (available: cpu)"


def test_graph_without_loss_cannot_train():
    p = mlp_project()
    p.graph.remove_node("loss")
    fail = run(p)[-1]
    assert fail.kind == "failed" and "add a loss node" in fail.message


def test_graph_problem_is_reported_with_its_node():
    p = mlp_project()
    p.graph.set_param("fc2", "in_features", 5)
    fail = run(p)[-1]
    assert fail.kind == "failed" and fail.node == "fc2"
    assert "Linear 'fc2' expects 5 input features but 'r1' gives 32" in fail.message


def test_classes_beyond_the_output_are_caught_before_training():
    p = mlp_project(dataset="digits")
    p.graph.set_param("x", "shape", [1, 8, 8])
    p.graph.add_node("Flatten", "flat")
    p.graph.disconnect(p.graph.out_edges("x")[0])
    p.graph.connect("x", "out", "flat", "x")
    p.graph.connect("flat", "y", "fc1", "x")
    fail = run(p)[-1]
    assert fail.kind == "failed"
    assert "Target 'label' holds class 9, but 'sm' gives scores for 2 classes" in fail.message


def test_device_style_loop_reads_the_loss_only_at_log_steps_and_agrees():
    """The GPU path (loss kept on the device, read every log_every steps), run on the CPU."""
    a = list(Trainer(mlp_project(), log_every=5).run())
    b = list(Trainer(mlp_project(), log_every=5, sync_every_step=False).run())
    la = [e.loss for e in a if e.kind == "step"]
    lb = [e.loss for e in b if e.kind == "step"]
    assert la == pytest.approx(lb, rel=1e-5)
    assert a[-1].metrics == pytest.approx(b[-1].metrics, rel=1e-5)


def test_device_style_loop_still_catches_a_non_finite_loss():
    p = diverging_project()
    fail = list(Trainer(p, sync_every_step=False, log_every=3).run())[-1]
    assert fail.kind == "failed" and "the loss became" in fail.message and fail.node


def dropout_project(epochs=20):
    p = mlp_project(epochs=epochs)
    g = p.graph
    g.add_node("Dropout", "drop", {"p": 0.3})
    e = g.out_edges("r1")[0]
    g.disconnect(e)
    g.connect("r1", "y", "drop", "x")
    g.connect("drop", "y", "fc2", "x")
    return p


@pytest.mark.parametrize("stop_at", [25, 50])  # mid-epoch, and exactly at an epoch's end
def test_stop_checkpoint_resume_equals_an_uninterrupted_run(tmp_path, stop_at):
    ref = Trainer(dropout_project(), max_steps=90)
    ref_events = list(ref.run())
    assert ref_events[-1].kind == "finished"

    t = Trainer(dropout_project(), max_steps=90, log_every=1)
    for e in t.run():
        if e.kind == "step" and e.step == stop_at:
            t.stop()
        if e.kind == "stopped":
            t.save_checkpoint(tmp_path / "ckpt")
    assert t.step == stop_at
    r = Trainer(dropout_project(), max_steps=90, resume_from=tmp_path / "ckpt")
    events = list(r.run())
    assert events[-1].kind == "finished" and events[-1].step == 90
    for k, v in ref.model.state_dict().items():
        assert torch.equal(v, r.model.state_dict()[k]), k  # bit for bit
    assert events[-1].metrics == ref_events[-1].metrics


def test_checkpoint_of_another_graph_is_refused(tmp_path):
    t = Trainer(mlp_project(), max_steps=5)
    list(t.run())
    t.save_checkpoint(tmp_path / "c")
    p = mlp_project()
    p.graph.set_param("fc1", "out_features", 7)
    fail = list(Trainer(p, resume_from=tmp_path / "c").run())[-1]
    assert fail.kind == "failed" and "does not fit this graph" in fail.message
    fail = list(Trainer(mlp_project(), resume_from=tmp_path / "none").run())[-1]
    assert fail.kind == "failed" and "incomplete checkpoint" in fail.message


def test_pause_and_resume_from_another_thread():
    t = Trainer(mlp_project(epochs=100_000), log_every=1)
    th, seen = run_in_thread(t)
    t.pause()
    th.join(0.5)
    assert any(e.kind == "paused" for e in seen)
    step = t.step
    th.join(0.3)
    assert t.step == step  # nothing happens while paused
    t.resume()
    th.join(0.3)
    assert any(e.kind == "resumed" for e in seen) and t.step > step
    t.pause()
    th.join(0.2)
    t.stop()  # stopping while paused works too
    th.join(5)
    assert not th.is_alive() and seen[-1].kind == "stopped"


def image_layers_project() -> Project:
    """Every node type that trains in channels-last memory, on the digits."""
    g = Graph()
    g.add_node("Input", "image", {"shape": [1, 8, 8]})
    stem = chain(g, "image", [("Conv2d", "conv1", {"out_channels": 6, "padding": "same",
                                                          "bias": False}),  # BN follows
                              ("BatchNorm2d", "bn", {}), ("LeakyReLU", "lrelu", {})])
    branch = chain(g, stem, [("Conv2d", "conv2", {"out_channels": 6, "padding": "same"}),
                             ("GELU", "gelu_tanh", {"approximate": "tanh"}),
                             ("Tanh", "tanh", {})], first_port="y")
    g.add_node("Add", "add")
    g.connect(stem, "y", "add", "x")
    g.connect(branch, "y", "add", "x")
    g.add_node("Sigmoid", "sig")
    g.connect("add", "y", "sig", "x")
    g.add_node("OneMinus", "keep")  # a gate: add ⊙ (1 − σ(add))
    g.connect("sig", "y", "keep", "x")
    g.add_node("Multiply", "gated")
    g.connect("add", "y", "gated", "x")
    g.connect("keep", "y", "gated", "x")
    g.add_node("Concat", "cat")
    g.connect("add", "y", "cat", "x")
    g.connect("sig", "y", "cat", "x")
    g.connect("gated", "y", "cat", "x")
    maps = chain(g, "cat", [("MaxPool2d", "maxpool", {}), ("AvgPool2d", "avgpool", {}),
                            # GELU's exact (erf) kernel rounds a few values an ulp apart
                            # in NHWC (≤ 1e-6): the same within this test's tolerance
                            ("ReLU", "relu", {}), ("GELU", "gelu", {})], first_port="y")
    g.add_node("GlobalAvgPool2d", "gap")
    g.connect(maps, "y", "gap", "x")
    g.add_node("Flatten", "flat")
    g.connect(maps, "y", "flat", "x")
    g.add_node("Concat", "features")
    g.connect("flat", "y", "features", "x")
    g.connect("gap", "y", "features", "x")
    last = chain(g, "features", [("Dropout", "drop", {"p": 0.2}),
                                 ("Linear", "fc", {"out_features": 10}),
                                 ("Softmax", "sm", {})], first_port="y")
    classifier_head(g, last)
    return Project(graph=g, training=TrainingSettings(optimizer="adam", lr=0.01, batch_size=32,
                                                      epochs=1, device="cpu"),
                   data=DataSettings(dataset="digits", bind={"image": "x", "label": "y"}))


def test_image_layers_train_the_same_in_channels_last(monkeypatch):
    import runtime.train as T
    layouts = []
    original = T.use_channels_last
    monkeypatch.setattr(T, "use_channels_last", lambda c, d: layouts.append(original(c, d))
                        or layouts[-1])
    fast = Trainer(image_layers_project(), max_steps=40, log_every=1)
    fast_events = list(fast.run())
    assert layouts == [True]
    assert fast.compiled.modules.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    monkeypatch.setattr(T, "use_channels_last", lambda c, d: False)
    plain = Trainer(image_layers_project(), max_steps=40, log_every=1)
    plain_events = list(plain.run())
    assert fast_events[-1].kind == plain_events[-1].kind == "finished"
    fast_losses = [e.loss for e in fast_events if e.kind == "step"]
    plain_losses = [e.loss for e in plain_events if e.kind == "step"]
    assert len(fast_losses) == 40
    assert fast_losses == pytest.approx(plain_losses, rel=1e-4)
    for k, v in plain.model.state_dict().items():  # sums in another order, then Adam
        assert torch.allclose(fast.model.state_dict()[k], v, rtol=1e-4, atol=1e-4), k


def test_channels_last_only_for_image_graphs_on_the_cpu_with_known_types():
    from runtime.compile import compile_graph
    from runtime.train import use_channels_last
    cpu = torch.device("cpu")
    assert use_channels_last(compile_graph(load(TEMPLATES / "cnn.json").graph), cpu)
    assert use_channels_last(compile_graph(image_layers_project().graph), cpu)
    assert not use_channels_last(compile_graph(load(TEMPLATES / "cnn.json").graph),
                                 torch.device("cuda"))
    assert not use_channels_last(compile_graph(mlp_project().graph), cpu)  # no image layer
    g = Graph()  # dropout on an image: its random mask would follow the memory order
    g.add_node("Input", "image", {"shape": [1, 8, 8]})
    last = chain(g, "image", [("Conv2d", "conv", {"out_channels": 4}),
                              ("Dropout", "drop", {"p": 0.1}), ("Flatten", "flat", {}),
                              ("Linear", "fc", {"out_features": 10})])
    classifier_head(g, last)
    assert not use_channels_last(compile_graph(g), cpu)


def test_channels_last_run_resumes_bit_for_bit(tmp_path):
    ref = Trainer(image_layers_project(), epochs=2, max_steps=60)
    ref_events = list(ref.run())
    t = Trainer(image_layers_project(), epochs=2, max_steps=60, log_every=1)
    for e in t.run():
        if e.kind == "step" and e.step == 25:
            t.stop()
        if e.kind == "stopped":
            t.save_checkpoint(tmp_path / "ckpt")
    r = Trainer(image_layers_project(), epochs=2, max_steps=60, resume_from=tmp_path / "ckpt")
    events = list(r.run())
    assert events[-1].kind == "finished" and events[-1].step == 60
    for k, v in ref.model.state_dict().items():
        assert torch.equal(v, r.model.state_dict()[k]), k
    assert events[-1].metrics == ref_events[-1].metrics


@pytest.mark.parametrize("make", [
    lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.01),
    lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.001),
    lambda ps: torch.optim.SGD(ps, lr=0.1)])
def test_eager_step_updates_exactly_as_opt_step(make):
    """The Trainer's optimizer step skips torch.optim's dynamo-importing wrappers: the weights
    must come out bit for bit the same."""
    from runtime.train import eager_step
    torch.manual_seed(0)
    a = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 2))
    b = copy.deepcopy(a)
    oa, ob = make(a.parameters()), make(b.parameters())
    step_b = eager_step(ob)
    assert step_b != ob.step  # the fast path is taken here
    for i in range(5):
        x = torch.randn(8, 5)
        for m, o, step in ((a, oa, oa.step), (b, ob, step_b)):
            o.zero_grad()
            m(x).pow(2).mean().backward()
            step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert str(oa.state_dict()) == str(ob.state_dict())


def test_eager_step_falls_back_when_hooks_are_registered():
    from runtime.train import eager_step
    m = torch.nn.Linear(2, 1)
    o = torch.optim.Adam(m.parameters())
    o.register_step_post_hook(lambda *a: None)
    assert eager_step(o) == o.step


def test_a_training_run_never_imports_torch_dynamo():
    """torch._dynamo cost 1.4 s of `layerloom train`'s start-up (imported by the optimizer's
    wrappers); a run that needs none of it must not load it."""
    code = ("import sys; from app.cli import main; "
            f"main(['train', {str(TEMPLATES / 'mlp.json')!r}, '--max-steps', '30', "
            "'--no-progress']); print('DYNAMO', 'torch._dynamo' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "DYNAMO False" in r.stdout, r.stdout[-500:]


def test_an_error_without_a_message_is_reported_not_replaced_by_index_error():
    """The reports quote an error's first line; an exception with no message has none."""
    from runtime.errors import first_line
    assert first_line(RuntimeError()) == ""
    assert first_line(ValueError("bad\nmore")) == "bad"
    assert first_line("") == ""
