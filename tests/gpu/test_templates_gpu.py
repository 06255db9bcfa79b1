"""Every template trains 20 steps on the GPU, in fp32 and under bf16 autocast, with a finite
loss; no step but the log steps makes the host wait for the device (SyncWatch). The CPU
twins run the same bodies on the CPU for a few templates (CPU_TWINS; slow: all but the
mlp's and the perceptron's)."""
import math
import time

import pytest
import torch

from runtime.train import Trainer
from templates import list_templates
from tests.gpu.common import (DETECTORS, devices, has_selective_search,
                              needs_selective_search, record_detail, small_project)
from tests.gpu.syncwatch import SyncWatch

STEPS, LOG_EVERY = 20, 10
TEMPLATES = list_templates()
FAST_TWINS = {"mlp", "perceptron"}  # their CPU twins take a second or two
# The CPU twins prove the test's logic, not the templates (every template trains in the app
# and the CLI tests): a few kinds of model are enough, and the full tier stays in CI's time.
# Each one here exercises something particular: a convolution, nn.LSTM under CPU bf16 (run
# in float32), RoIAlign and the detection head under bf16.
CPU_TWINS = FAST_TWINS | {"cnn", "lstm", "mask_rcnn"}


def cases():
    for t in TEMPLATES:
        for precision in ("fp32", "bf16"):
            for param in devices(() if t.key in FAST_TWINS else (pytest.mark.slow,)):
                if param.values[0] == "cpu" and t.key not in CPU_TWINS:
                    continue
                yield pytest.param(t, precision, param.values[0], marks=param.marks,
                                   id=f"{t.key}-{precision}-{param.id}")


def train(template, precision: str, device: str):
    """The run's events, its trainer and its SyncWatch (20 steps, a log step every 10)."""
    p = small_project(template.path, STEPS)
    if needs_selective_search(p) and not has_selective_search():
        pytest.skip(f"{template.key}: its proposals need OpenCV's selective search "
                    "(cv2.ximgproc, from opencv-contrib-python-headless), not installed")
    p.training.precision = precision
    if device == "cpu" and template.key in DETECTORS:  # the twin: the same steps, smaller
        p.training.batch_size = 2  # (the final evaluation of 373 images took > 20 min here)
        p.data.options = {**p.data.options, "n_samples": 48}
    t = Trainer(p, device=device, max_steps=STEPS, log_every=LOG_EVERY,
                sync_every_step=False)  # as on a GPU: the loss read at log steps only
    watch = SyncWatch(t)
    t0 = time.perf_counter()
    with watch.watching(cuda=device == "cuda"):
        events = list(t.run())
    if device == "cuda":
        torch.cuda.synchronize()
    return events, t, watch, time.perf_counter() - t0


@pytest.mark.parametrize("template,precision,device", list(cases()))
def test_template_trains_20_steps(template, precision, device):
    events, t, watch, seconds = train(template, precision, device)
    last = events[-1]
    assert last.kind == "finished", f"{template.key} {precision} on {device}: {last}"
    assert t.step == STEPS, (template.key, t.step)
    started = events[0] if events[0].kind == "started" else \
        next(e for e in events if e.kind == "started")
    assert started.device == device, started.device
    steps = [e for e in events if e.kind == "step"]
    assert steps and all(math.isfinite(e.loss) for e in steps), \
        (template.key, precision, [e.loss for e in steps])
    assert math.isfinite(last.final_loss), (template.key, precision, last.final_loss)
    # The model's weights stay float32 on the device (autocast changes the compute only)
    for name, w in t.compiled.modules.state_dict().items():
        assert w.device.type == device, (name, w.device)
        if w.is_floating_point():
            assert w.dtype == torch.float32, (name, w.dtype)
    # The data reaches the device once, before the first step: the splits live there
    for node, tensor in t._ctx.train_data.items():
        assert tensor.device.type == device, (node, tensor.device)

    # Syncs outside log steps: none in the loop's own code (the batch gather, the metric
    # records, the optimizer), and for the graphs without detection ops none at all but the
    # live view's (a GAN's samples, a few times a second: not at every step)
    loop = watch.synced_steps(ignore="runtime/detection/")
    detail = dict(template=template.key, precision=precision, device=device,
                  seconds=round(seconds, 3), final_loss=last.final_loss,
                  samples_per_s=round(last.samples_per_s, 1), log_steps=watch.log_steps,
                  other_steps=watch.other_steps, syncs_armed=len(watch.syncs),
                  synced_steps=len(watch.synced_steps()), loop_synced_steps=len(loop),
                  syncs_total=watch.total, sync_sites=watch.report(4).splitlines())
    if device == "cuda":
        record_detail("template", **detail)
    assert watch.other_steps > 0 or watch.log_steps == STEPS
    in_loop = [s for s in watch.syncs if s.inside("runtime/train_loop.py") and
               not s.inside("runtime/recipes/")]
    assert not in_loop, f"the loop itself syncs outside log steps:\n{watch.report()}"
    if template.key not in DETECTORS:
        assert len(loop) <= max(2, watch.other_steps // 4), \
            (f"{template.key} {precision}: {len(loop)} of {watch.other_steps} steps that are "
             f"not log steps wait for the device:\n{watch.report()}")
