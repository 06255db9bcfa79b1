"""The CPU twin of the sync check: Tensor.item() made to warn as a CUDA sync does, the Trainer
reading its loss as on a GPU (at log steps only). SyncWatch sees the log steps' reads
disarmed, and an item() slipped into every step armed, at each of those steps, with the
loop's frame."""
import torch

from runtime.train import Trainer
from tests.gpu.common import ROOT, small_project
from tests.gpu.syncwatch import SyncWatch, simulate_item_sync

STEPS = 20


def _run(log_every=10, inject=False):
    p = small_project(ROOT / "templates" / "mlp.json", STEPS)
    t = Trainer(p, device="cpu", max_steps=STEPS, log_every=log_every, sync_every_step=False)
    watch = SyncWatch(t)
    with simulate_item_sync(), watch.watching(cuda=False):
        events = t.run()
        for e in events:
            if inject and e.kind == "started":
                step = t.recipe.step

                def leaky(batch, log_now, check):
                    res = step(batch, log_now, check)
                    res.loss.item()  # a sync at every step: what the check is for
                    return res
                t.recipe.step = leaky
            assert e.kind != "failed", e
    return t, watch


def test_log_steps_read_the_loss_disarmed():
    t, watch = _run()
    assert t.step == STEPS
    assert watch.log_steps + watch.other_steps == STEPS
    assert watch.other_steps >= STEPS - 3  # log steps: 10, 20 and any epoch end
    assert watch.total >= 2  # the log steps' reads were seen, and not held against the run
    assert watch.syncs == [], watch.report()
    assert watch.synced_steps() == set()


def test_a_read_at_every_step_is_caught_at_each_step_with_its_place():
    t, watch = _run(inject=True)
    other = watch.other_steps
    assert len(watch.synced_steps()) == other, watch.report()
    assert all(s.inside("runtime/train_loop.py") for s in watch.syncs)
    assert "runtime/train_loop.py" in watch.report()


def test_the_watch_leaves_item_and_warnings_as_they_were():
    item = torch.Tensor.item
    _run(log_every=5)
    assert torch.Tensor.item is item
    assert torch.tensor(2.0).item() == 2.0
