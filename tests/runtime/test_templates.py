"""Every template in templates/ (the list is read from the folder, so the next templates are
covered too): it trains a few steps from its own project file with a falling loss."""
import statistics

import pytest

from graph.project import load
from runtime.train import Trainer
from templates import list_templates

TEMPLATES = list_templates()


# The detectors' few steps take 30-70 s each here: in the full tier (their app runs to target
# are there too)
DETECTORS = {"rcnn", "fast_rcnn", "faster_rcnn", "mask_rcnn"}


@pytest.mark.parametrize("template", [
    pytest.param(t, id=t.key, marks=pytest.mark.slow if t.key in DETECTORS else ())
    for t in TEMPLATES])
def test_every_template_trains_a_few_steps_with_a_falling_loss(template):
    p = load(template.path)
    # The perceptron rule learns one example at a time, each step's error 0 or 1: judged
    # over windows of 40 steps. Gradient descent over batches: over windows of 4.
    rule = p.training.recipe == "perceptron"
    steps, window = (160, 40) if rule else (24, 4)
    events = list(Trainer(p, device="cpu", max_steps=steps, log_every=1).run())
    assert events[-1].kind == "finished", events[-1]
    losses = [e.loss for e in events if e.kind == "step"]
    if p.training.recipe == "adversarial":  # the game's losses need not fall: D learns to
        steps = [e for e in events if e.kind == "step"]  # tell real from generated samples
        gap = [e.values["D(x)"] - e.values["D(G(z))"] for e in steps]
        # (then G catches up: the gap rises and falls as the two play)
        assert abs(gap[0]) < 0.05 and max(gap) > 0.1, (template.key, gap)
        return
    assert len(losses) >= steps // 2
    first, last = statistics.mean(losses[:window]), statistics.mean(losses[-window:])
    assert last < first or (rule and last == 0), (template.key, losses)


def test_the_recurrent_templates_clip_gradients():
    """The seed notes' remedy for exploding gradients, on by default where they recur."""
    for t in TEMPLATES:
        p = load(t.path)
        types = {p.graph.node_type(n) for n in p.graph.nodes()}
        if types & {"RNN", "LSTM", "GRU"}:
            assert p.training.clip_norm is not None, t.key
            assert "clipping" in p.description.lower(), t.key
