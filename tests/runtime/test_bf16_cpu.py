"""bf16 on the CPU with an nn.LSTM: oneDNN cannot build a bf16 LSTM under CPU autocast
("could not create a primitive descriptor for the LSTM"), so the LSTM module runs in float32
there (as nn.GRU already does under autocast) while the rest of the model keeps bf16."""
import pytest
import torch

from graph.project import load
from runtime.recurrent import LSTM
from runtime.train import Trainer
from templates import list_templates


def test_the_lstm_runs_under_cpu_bf16_autocast_in_float32():
    m = LSTM(4, 8, num_layers=2, bidirectional=True)
    x = torch.randn(2, 5, 4)
    h0 = torch.randn(2, 4, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, (h, c) = m(x, h0)
        after = torch.nn.functional.linear(y, torch.randn(3, 16))  # autocast still on after
    assert y.dtype == h.dtype == c.dtype == torch.float32
    assert after.dtype == torch.bfloat16
    y.sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    plain, _ = m(x, h0)  # the same numbers as outside autocast
    torch.testing.assert_close(y, plain)


@pytest.mark.parametrize("key", ["lstm", pytest.param("char_lstm", marks=pytest.mark.slow)])
def test_the_lstm_templates_train_in_bf16_on_the_cpu(key):
    p = load(next(t for t in list_templates() if t.key == key).path)
    p.training.precision = "bf16"
    events = list(Trainer(p, device="cpu", max_steps=2, log_every=1).run())
    assert events[-1].kind == "finished", events[-1]
