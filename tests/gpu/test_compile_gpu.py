"""training.compile on the GPU: the mlp and cnn templates train 20 steps with torch.compile
(TorchInductor's Triton kernels on CUDA), the compile trial succeeding (no note in
Started.notes: the run is not the eager fallback) and a finite loss at every log step. The
CPU twins compile C++ for the CPU (15-60 s each on 2 cores): slow."""
import math
import time

import pytest
import torch

from runtime.train import Trainer
from tests.gpu.common import ROOT, devices, record_detail, small_project

STEPS, LOG_EVERY = 20, 10


@pytest.mark.parametrize("device", devices(cpu_marks=(pytest.mark.slow,)))
@pytest.mark.parametrize("template", ["mlp", "cnn"])
def test_template_trains_20_steps_compiled(template, device):
    torch._dynamo.reset()  # a compile of its own, not one left by an earlier test
    p = small_project(ROOT / "templates" / f"{template}.json", STEPS)
    p.training.compile = True
    t = Trainer(p, device=device, max_steps=STEPS, log_every=LOG_EVERY,
                sync_every_step=False)
    t0 = time.perf_counter()
    events = list(t.run())
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    last = events[-1]
    assert last.kind == "finished", f"{template} compiled on {device}: {last}"
    assert t.step == STEPS, (template, t.step)
    started = next(e for e in events if e.kind == "started")
    assert started.device == device, started.device
    assert started.notes == [], f"{template} on {device} was not compiled: {started.notes}"
    assert t.compiled.objective._compiled_call_impl is not None, "the objective is eager"
    steps = [e for e in events if e.kind == "step"]
    assert steps and all(math.isfinite(e.loss) for e in steps), \
        (template, [e.loss for e in steps])
    assert math.isfinite(last.final_loss), (template, last.final_loss)
    if device == "cuda":
        record_detail("compile", template=template, device=device, seconds=round(seconds, 3),
                      final_loss=last.final_loss, samples_per_s=round(last.samples_per_s, 1))
