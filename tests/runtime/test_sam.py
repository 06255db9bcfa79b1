"""The 'sam' recipe (runtime/recipes/sam.py): one step against SAM computed by hand in plain
torch, the MLP template trained with it, and a bad training.sam_rho refused."""
import json

import pytest
import torch
import torch.nn.functional as F

from graph.model import Graph
from graph.project import Project, ProjectError, load, loads
from graph.settings import DataSettings, TrainingSettings
from runtime.checkpoint import Position
from runtime.compile import compile_graph
from runtime.errors import TrainingError
from runtime.recipes import SAM, RecipeContext
from runtime.train import Trainer
from tests.graphs import chain, classifier_head

TEMPLATES = __import__("templates").FOLDER


def tiny(**training) -> Project:
    """x (3) → Linear 4 → Tanh → Linear 2 → cross-entropy from logits."""
    g = Graph()
    g.add_node("Input", "x", {"shape": [3]})
    last = chain(g, "x", [("Linear", "fc1", {"out_features": 4}), ("Tanh", "t", {}),
                          ("Linear", "fc2", {"out_features": 2})])
    classifier_head(g, last)
    g.set_param("loss", "from_logits", True)
    s = dict(recipe="sam", optimizer="minibatch", lr=0.1, device="cpu", sam_rho=0.5)
    s.update(training)
    return Project(graph=g, training=TrainingSettings(**s), data=DataSettings(dataset="blobs"))


def recipe_of(p: Project):
    """The recipe as the Trainer makes it (Trainer._make_recipe), over the compiled graph."""
    torch.manual_seed(0)
    c = compile_graph(p.graph)
    trainable = [q for q in c.modules.parameters() if q.requires_grad]
    by_layer = {n: [q for q in c.modules.get_submodule(n).parameters() if q.requires_grad]
                for n in c.layers}
    ctx = RecipeContext(p.training, torch.device("cpu"), Position(0, 1, 0, 0), 10, by_layer,
                        {}, {}, None)
    return SAM(ctx, c, trainable, list(c.feeds)), c


def by_hand(w: dict, x, y, lr, rho, weight_decay=0.0, clip=None):
    """SAM's step in plain torch: g at w, ε = ρ g/‖g‖, g' at w + ε, SGD at w with g' (clipped
    as torch.nn.utils.clip_grad_norm_ does, plus the optimizer's L2 term λw)."""
    names = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]

    def loss_and_grads(ws):
        ws = {k: v.clone().requires_grad_() for k, v in ws.items()}
        h = torch.tanh(x @ ws["fc1.weight"].T + ws["fc1.bias"])
        loss = F.cross_entropy(h @ ws["fc2.weight"].T + ws["fc2.bias"], y)
        return loss.item(), torch.autograd.grad(loss, [ws[k] for k in names])

    loss_w, g = loss_and_grads(w)
    norm = torch.sqrt(sum((gi ** 2).sum() for gi in g))
    probe = {k: w[k] + rho * gi / norm for k, gi in zip(names, g)}
    _, g2 = loss_and_grads(probe)
    if clip is not None:
        n2 = torch.sqrt(sum((gi ** 2).sum() for gi in g2))
        g2 = [gi * min(1.0, clip / (n2.item() + 1e-6)) for gi in g2]
    return loss_w, {k: w[k] - lr * (gi + weight_decay * w[k]) for k, gi in zip(names, g2)}


@pytest.mark.parametrize("extra", [{}, {"weight_decay": 0.1, "clip_norm": 0.05}])
def test_one_sam_step_equals_the_step_by_hand(extra):
    p = tiny(**extra)
    recipe, c = recipe_of(p)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(8, 3, generator=gen), torch.randint(0, 2, (8,), generator=gen)
    w = {k: v.detach().clone() for k, v in c.modules.state_dict().items()}
    want_loss, want = by_hand(w, x, y, lr=0.1, rho=0.5, weight_decay=extra.get("weight_decay", 0),
                              clip=extra.get("clip_norm"))
    res = recipe.step([x, y], log_now=True, check=True)
    assert res.value == pytest.approx(want_loss, rel=1e-6)  # the loss at w, not at w + ε
    assert res.loss.item() == pytest.approx(want_loss, rel=1e-6)
    got = c.modules.state_dict()
    for k, v in want.items():
        torch.testing.assert_close(got[k], v, rtol=1e-5, atol=1e-6)
    # It is not the supervised step: the gradient at w alone gives other weights
    _, plain = by_hand(w, x, y, lr=0.1, rho=1e-12, weight_decay=extra.get("weight_decay", 0),
                       clip=extra.get("clip_norm"))
    assert not torch.allclose(got["fc1.weight"], plain["fc1.weight"], atol=1e-5)
    assert set(res.norms) == {"fc1", "fc2"}


def test_a_non_finite_loss_at_the_probe_is_named_and_leaves_w_as_it_was():
    recipe, c = recipe_of(tiny())
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    before = {k: v.clone() for k, v in c.modules.state_dict().items()}
    at_w = before["fc1.weight"]
    # fc2's output overflows wherever fc1's weights are not w (the probe at w + ε)
    c.modules.fc2.register_forward_hook(
        lambda m, i, o: o if torch.equal(c.modules.fc1.weight, at_w) else o * float("inf"))
    with pytest.raises(TrainingError, match="the loss became .* at the probed weights w \\+ ε, "
                                            "ρ = 0.5 from w; a smaller sam_rho may help") as e:
        recipe.step([x, y], log_now=False, check=True)
    assert e.value.node in ("fc1", "fc2")
    for k, v in c.modules.state_dict().items():
        assert torch.equal(v, before[k]), k


@pytest.fixture
def one_thread():
    """As `layerloom train` and the worker run (2 threads on the loaded 2-core dev machine
    took 26 s for what one thread does in 0.2 s)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_the_mlp_template_learns_with_sam_about_as_well_as_supervised(one_thread):
    """10 epochs of templates/mlp.json (spirals, Adam lr 0.01, batch 32): measured on the dev
    machine, supervised loss 0.618 → 0.0095, val_accuracy 1.0; sam (ρ 0.05) loss
    0.616 → 0.028, val_accuracy 0.995."""
    final = {}
    for recipe in ("supervised", "sam"):
        p = load(TEMPLATES / "mlp.json")
        p.training.recipe, p.training.epochs = recipe, 10
        events = list(Trainer(p, device="cpu").run())
        assert events[-1].kind == "finished", events[-1]
        losses = [e.metrics["loss"] for e in events if e.kind == "epochend"]
        assert losses[-1] < 0.2 * losses[0]
        final[recipe] = events[-1].metrics
    assert final["sam"]["val_accuracy"] >= 0.95
    assert abs(final["sam"]["val_accuracy"] - final["supervised"]["val_accuracy"]) <= 0.03


@pytest.mark.parametrize("rho", [0, -0.1, 11, "nan", "big"])
def test_a_bad_sam_rho_is_refused_naming_the_setting(rho):
    raw = json.loads((TEMPLATES / "mlp.json").read_text(encoding="utf-8"))
    raw["training"].update(recipe="sam", sam_rho=float(rho) if rho == "nan" else rho)
    with pytest.raises(ProjectError, match=r"training\.sam_rho"):
        loads(json.dumps(raw))
    with pytest.raises(ValueError, match="sam_rho"):
        load(TEMPLATES / "mlp.json").training.sam_rho = 0
