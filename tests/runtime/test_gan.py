"""Training recipes and GANs (issue 12): optimizer records, the adversarial recipe, shared
networks, noise, stop/resume and the generator's export."""
import copy
import importlib.util

import pytest
import torch

from graph.analysis import analyse
from graph.project import load
from graph.settings import OptimizerRecord
from runtime.compile import compile_graph
from runtime.train import Trainer, split
from tests.runtime.test_train import mlp_project

TEMPLATES = __import__("templates").FOLDER


def gan(max_epochs=None, **training):
    p = load(TEMPLATES / "gan.json")
    p.data.options = {"n_samples": 2000}
    for k, v in training.items():
        setattr(p.training, k, v)
    if max_epochs:
        p.training.epochs = max_epochs
    return p


def steps_and_weights(trainer: Trainer):
    events = list(trainer.run())
    assert events[-1].kind == "finished", events[-1]
    losses = [e.loss for e in events if e.kind == "step"]
    return losses, {k: v.clone() for k, v in trainer.compiled.modules.state_dict().items()}


# The loop, split into recipes, does what it did -------------------------------------------

def plain_loop(p, steps):
    """Today's supervised training written out by hand in plain PyTorch: the same seed, split
    and shuffle as the Trainer, Adam over every weight, zero_grad / backward / step."""
    from runtime.binding import bind_data
    from runtime.data import load_dataset
    s = p.training
    torch.manual_seed(s.seed)
    c = compile_graph(p.graph)
    ds = load_dataset(p.data.dataset, p.data.options, s.seed)
    needed = c.feeds
    tensors = bind_data(c, p.data.bind, ds, needed)
    _, train_idx = split(len(ds), s.seed, s.val_split)
    train = [tensors[k][train_idx] for k in needed]
    opt = torch.optim.Adam(c.modules.parameters(), lr=s.lr)
    shuffle = torch.Generator().manual_seed(s.seed + 1)
    n, losses, step = len(train_idx), [], 0
    while step < steps:
        order = torch.randperm(n, generator=shuffle)
        for i in range(0, n, s.batch_size):
            batch = [t[order[i:i + s.batch_size]] for t in train]
            opt.zero_grad(set_to_none=True)
            loss = c.objective(*batch)["loss"]
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
            if step == steps:
                break
    return losses, dict(c.modules.state_dict())


def test_one_optimizer_record_reproduces_the_plain_supervised_run_bit_for_bit():
    p = mlp_project(epochs=2)
    ref_losses, ref_w = plain_loop(p, 40)
    plain = steps_and_weights(Trainer(p, max_steps=40, log_every=1))
    q = copy.deepcopy(p)
    q.training.optimizers = [OptimizerRecord(name="all", losses=["loss"], lr=q.training.lr)]
    rec = steps_and_weights(Trainer(q, max_steps=40, log_every=1))
    assert plain[0] == ref_losses and rec[0] == ref_losses  # every step's loss, exactly
    for k, v in ref_w.items():
        assert torch.equal(plain[1][k], v) and torch.equal(rec[1][k], v), k


def test_perceptron_recipe_reproduces_the_rule_by_hand_bit_for_bit():
    p = load(TEMPLATES / "perceptron.json")
    losses, w = steps_and_weights(Trainer(p, max_steps=30, log_every=1))
    from runtime.binding import bind_data
    from runtime.data import load_dataset
    s = p.training
    torch.manual_seed(s.seed)
    c = compile_graph(p.graph)
    ds = load_dataset(p.data.dataset, p.data.options, s.seed)
    tensors = bind_data(c, p.data.bind, ds, c.feeds)
    _, idx = split(len(ds), s.seed, s.val_split)
    x, y = (tensors[k][idx] for k in c.feeds)
    m = c.modules.get_submodule(c.taps[0])
    shuffle = torch.Generator().manual_seed(s.seed + 1)
    bs = {"gd": len(idx), "sgd": 1}.get(s.optimizer, s.batch_size)
    got, step = [], 0
    while step < 30:
        order = torch.randperm(len(idx), generator=shuffle)
        for i in range(0, len(idx), bs):
            xb, yb = x[order[i:i + bs]], y[order[i:i + bs]]
            with torch.no_grad():
                out = c.objective(xb, yb)
                y_hat = out["taps"][c.taps[0]][1]
                err = yb.reshape(y_hat.shape).to(y_hat.dtype) - y_hat  # w ← w + η (y − ŷ) x
                m.weight += s.lr * err.T @ xb
                m.bias += s.lr * err.sum(0)
            got.append(out["loss"].item())
            step += 1
            if step == 30:
                break
    assert losses == got
    for k, v in c.modules.state_dict().items():
        assert torch.equal(w[k], v), k


# The adversarial recipe ---------------------------------------------------------------------

def _params(trainer, subnet):
    members = trainer.compiled.graph.subnets[subnet]
    return {k: v.clone() for k, v in trainer.compiled.modules.state_dict().items()
            if k.split(".")[0] in members}


@pytest.mark.parametrize("player, other", [("discriminator", "generator"),
                                           ("generator", "discriminator")])
def test_an_adversarial_step_updates_only_its_records_subnetwork(player, other):
    p = gan()
    for r in p.training.optimizers:  # only `player` updates at step 1
        r.start = 0 if r.name == player else 5
    torch.manual_seed(p.training.seed)
    before = compile_graph(p.graph).modules.state_dict()
    t = Trainer(p, max_steps=1, log_every=1)
    events = list(t.run())
    assert events[-1].kind == "finished"
    moved, kept = _params(t, player), _params(t, other)
    assert moved and kept
    assert all(not torch.equal(v, before[k]) for k, v in moved.items() if k.endswith("weight"))
    assert all(torch.equal(v, before[k]) for k, v in kept.items()), other
    step = next(e for e in events if e.kind == "step")
    loss = "d_loss.loss" if player == "discriminator" else "g_loss.loss"
    assert set(step.values) >= {loss, "D(x)", "D(G(z))"} if player == "discriminator" \
        else loss in step.values


def test_the_generator_updates_every_k_steps():
    p = gan()
    p.training.optimizers[1].every = 3
    events = list(Trainer(p, max_steps=9, log_every=1).run())
    has_g = [("g_loss.loss" in e.values) for e in events if e.kind == "step"]
    assert has_g == [True, False, False] * 3


def test_gan_stop_resume_equals_an_uninterrupted_run(tmp_path):
    ref = Trainer(gan(), max_steps=40)
    ref_events = list(ref.run())
    assert ref_events[-1].kind == "finished"
    t = Trainer(gan(), max_steps=40, log_every=1)
    for e in t.run():
        if e.kind == "step" and e.step == 13:
            t.stop()
        if e.kind == "stopped":
            t.save_checkpoint(tmp_path / "ckpt")
    r = Trainer(gan(), max_steps=40, resume_from=tmp_path / "ckpt")
    events = list(r.run())
    assert events[-1].kind == "finished" and events[-1].step == 40
    for k, v in ref.compiled.modules.state_dict().items():
        assert torch.equal(v, r.compiled.modules.state_dict()[k]), k  # bit for bit
    assert events[-1].metrics == ref_events[-1].metrics
    # both optimizers' moments came back
    for name, opt in r.recipe.optimizer.named.items():
        ref_opt = ref.recipe.optimizer.named[name]
        mine = [q for g in opt.param_groups for q in g["params"]]
        theirs = [q for g in ref_opt.param_groups for q in g["params"]]
        for a, b in zip(mine, theirs):
            assert torch.equal(opt.state[a]["exp_avg"], ref_opt.state[b]["exp_avg"])


def test_a_checkpoint_with_other_optimizer_records_is_refused(tmp_path):
    t = Trainer(gan(), max_steps=3)
    list(t.run())
    t.save_checkpoint(tmp_path / "c")
    p = gan()
    p.training.optimizers = p.training.optimizers[:1]
    events = list(Trainer(p, max_steps=5, resume_from=tmp_path / "c").run())
    assert events[-1].kind == "failed"
    assert "optimizer" in events[-1].message and "'generator'" in events[-1].message


def test_bad_optimizer_records_are_named():
    p = gan()
    p.training.optimizers[0].losses = ["nope"]
    fail = list(Trainer(p).run())[-1]
    assert fail.kind == "failed" and "training.optimizers[0] ('discriminator')" in fail.message
    assert "'nope' is not a loss node" in fail.message
    p = gan()
    p.training.optimizers[1].subnet = "gen"
    fail = list(Trainer(p).run())[-1]
    assert "there is no sub-network 'gen'" in fail.message
    p = gan()
    p.training.optimizers = []
    fail = list(Trainer(p).run())[-1]
    assert "needs an optimizer record per player" in fail.message


def test_noise_is_drawn_per_step_and_no_data_field_is_bound():
    p = gan()
    assert set(p.data.bind) == {"x"}  # the noise node needs no binding
    t = Trainer(p, max_steps=2)
    assert list(t.run())[-1].kind == "finished"
    assert t.compiled.inputs == ["z"]  # the model is the generator: noise in, points out
    assert "x" not in t.compiled.inputs


def test_detach_stops_the_gradient_into_the_generator():
    p = gan()
    torch.manual_seed(0)
    c = compile_graph(p.graph)
    from runtime.compile import objective_for
    obj, feeds = objective_for(c, ["d_loss"])
    args = [torch.randn(4, 8) if f == "z" else torch.randn(4, 2) for f in feeds]
    obj(*args)["loss"].backward()
    gen = [n for n in c.graph.subnets["generator"] if n in c.modules._modules]
    assert gen and all(q.grad is None for n in gen
                       for q in c.modules.get_submodule(n).parameters())
    assert c.modules.d1.weight.grad is not None
    # the shared network runs the discriminator's own modules: no copy of its weights
    names = [n.target for n in obj.graph.nodes if n.op == "call_module"]
    assert names.count("d1") == 2 and names.count("d3") == 2


# The shared network, checked ------------------------------------------------------------------

def test_shared_network_problems_are_named():
    p = gan()
    g = p.graph
    g.set_param("d_on_gen", "subnet", "critic")
    msgs = [str(i) for i in analyse(g).errors]
    assert any("d_on_gen" in m and "no sub-network 'critic'" in m for m in msgs), msgs
    g.set_param("d_on_gen", "subnet", "generator")  # G reads N × 8, gets N × 2
    msgs = [str(i) for i in analyse(g).errors]
    assert any("reads N × 8" in m and "gives N × 2" in m for m in msgs), msgs


def test_a_shared_subnetwork_must_read_one_value():
    p = gan()
    g = p.graph
    g.set_subnet("discriminator", g.subnets["discriminator"] + ["g1"])
    msgs = [str(i) for i in analyse(g).errors]
    assert any("must read one value from outside" in m for m in msgs), msgs


# Export ---------------------------------------------------------------------------------------

def test_the_generator_exports_alone_and_runs_from_the_python_file(tmp_path):
    from runtime.export import export
    p = gan()
    t = Trainer(p, max_steps=20)
    assert list(t.run())[-1].kind == "finished"
    t.save_checkpoint(tmp_path / "ckpt")
    out = tmp_path / "generator.py"
    export(p, tmp_path / "ckpt", "python", out)
    spec = importlib.util.spec_from_file_location("generator", out)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model = mod.load()
    z = torch.randn(16, 8)
    t.compiled.model.eval()
    with torch.no_grad():
        assert torch.allclose(model(z), t.compiled.model(z), atol=1e-6)
    assert model(z).shape == (16, 2)


@pytest.fixture(scope="module")
def trained_gan(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gan")
    p = gan()
    t = Trainer(p, max_steps=20)
    assert list(t.run())[-1].kind == "finished"
    t.save_checkpoint(folder / "ckpt")
    z = torch.randn(16, 8)
    t.compiled.model.eval()
    with torch.no_grad():
        y = t.compiled.model(z)
    return p, folder / "ckpt", z, y


def test_the_generator_exports_alone_to_torchscript_and_onnx(trained_gan, tmp_path):
    import onnxruntime as ort
    from runtime.export import export
    p, ckpt, z, y = trained_gan
    [f] = export(p, ckpt, "torchscript", tmp_path / "g.pt")
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(str(f))(z), y, atol=1e-5)
    [f] = export(p, ckpt, "onnx", tmp_path / "g.onnx")
    s = ort.InferenceSession(str(f))
    assert [i.name for i in s.get_inputs()] == ["z"]  # noise in, points out: no real data
    out = s.run(None, {"z": z.numpy()})[0]
    assert abs(out - y.numpy()).max() <= 1e-5
    files = export(p, ckpt, "bundle", tmp_path / "bundle")
    from safetensors.torch import load_file
    keys = set(load_file(str(tmp_path / "bundle" / "model.safetensors")))
    assert keys and all(k.startswith("g") for k in keys)  # the generator's weights only


def test_record_learning_rates_decay_along_a_cosine_to_lr_end():
    import math
    p = gan()
    events = list(Trainer(p, max_steps=10, log_every=1).run())
    lrs = [e.lr for e in events if e.kind == "step"]
    r = p.training.optimizers[0]
    want = [r.lr_end + 0.5 * (r.lr - r.lr_end) * (1 + math.cos(math.pi * s / 10))
            for s in range(10)]
    assert lrs == pytest.approx(want, rel=1e-12) and lrs[0] == r.lr


def test_each_record_computes_only_what_its_losses_need():
    from runtime.compile import objective_for
    c = compile_graph(gan().graph)
    g_obj, g_feeds = objective_for(c, ["g_loss"])
    assert g_feeds == ["z"]  # the generator's loss needs no real batch, nor D(x)
    calls = [n.name for n in g_obj.graph.nodes if n.op == "call_module"]
    assert "d1" not in calls and "d_on_gen_d1" in calls
    _, d_feeds = objective_for(c, ["d_loss"])
    assert sorted(d_feeds) == ["x", "z"]


@pytest.mark.parametrize("distribution, std", [("normal", 1.0), ("uniform", 3 ** -0.5)])
def test_the_python_export_draws_z_as_the_generator_was_trained(tmp_path, monkeypatch,
                                                                 distribution, std):
    """The Noise node's distribution, not U(0, 1) (issue 23, item 17: the demo drew torch.rand
    for a generator trained on N(0, I) and 3 of 8 modes appeared): draw_noise(n) draws z as
    training did, the demo uses it, and the docstring says what z is."""
    import runpy
    import sys
    from runtime.export import export
    p = gan()
    p.graph.set_param("z", "distribution", distribution)
    [py, _] = export(p, None, "python", tmp_path / "generator.py")
    spec = importlib.util.spec_from_file_location("generator", py)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.manual_seed(0)
    z = mod.draw_noise(20000)
    assert z.shape == (20000, 8)
    assert abs(float(z.mean())) < 0.02 and abs(float(z.std()) - std) < 0.02
    if distribution == "uniform":
        assert -1 <= float(z.min()) < -0.99 and 0.99 < float(z.max()) <= 1
    says = {"normal": "z ~ N(0, I)", "uniform": "U(−1, 1)"}[distribution]
    assert "z: N × 8" in mod.__doc__ and says in mod.__doc__ and "draw_noise(" in mod.__doc__
    drawn = []  # what the file's own demo (__main__) draws its z with
    for f in ("rand", "randn"):
        real = getattr(torch, f)
        monkeypatch.setattr(torch, f, lambda *a, _f=f, _real=real, **k:
                            drawn.append((_f, a)) or _real(*a, **k))
    monkeypatch.setattr(sys, "argv", [str(py)])
    runpy.run_path(str(py), run_name="__main__")
    shapes = [(f, tuple(a[0]) if len(a) == 1 else a) for f, a in drawn]  # (2, 8) or ((2, 8),)
    assert shapes == [("randn" if distribution == "normal" else "rand", (2, 8))]
