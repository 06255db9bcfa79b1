"""Recurrent layers with batch-first states (nn.RNN, nn.GRU and nn.LSTM under the contract
the catalogue's nodes need), and a step or a slice of a sequence.

Each is small, plain PyTorch. The standalone Python export copies the ones a model uses
into the exported file, so they must stay self-contained (torch imports only).
"""
from __future__ import annotations

import torch
from torch import nn


def _to_torch_state(h: torch.Tensor) -> torch.Tensor:
    """N × (layers·directions) × H (ours, batch first) -> torch's (layers·directions) × N × H."""
    return h.transpose(0, 1).contiguous()


class RNN(nn.RNN):
    """nn.RNN, batch first, with batch-first states: forward(x, h0=None) -> (y, h) with
    y N × T × (D·H) and h N × (layers·D) × H. The weights are nn.RNN's own (same names)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0,
                 nonlinearity: str = "tanh"):
        super().__init__(input_size, hidden_size, num_layers=num_layers,
                         nonlinearity=nonlinearity, batch_first=True, dropout=dropout,
                         bidirectional=bidirectional)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None):
        y, h = super().forward(x, None if h0 is None else _to_torch_state(h0))
        return y, h.transpose(0, 1)


class GRU(nn.GRU):
    """nn.GRU, batch first, with batch-first states (as RNN above)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0):
        super().__init__(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                         dropout=dropout, bidirectional=bidirectional)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None):
        y, h = super().forward(x, None if h0 is None else _to_torch_state(h0))
        return y, h.transpose(0, 1)


class LSTM(nn.LSTM):
    """nn.LSTM, batch first, with batch-first states: forward(x, h0=None, c0=None) ->
    (y, (h, c)), the nesting torch returns; a state not given starts at zeros. Under CPU
    bf16 autocast it runs in float32 (oneDNN has no bf16 LSTM on most CPUs: "could not
    create a primitive descriptor for the LSTM"), as nn.GRU does there anyway."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0):
        super().__init__(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                         dropout=dropout, bidirectional=bidirectional)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None,
                c0: torch.Tensor | None = None):
        hx = None
        if h0 is not None or c0 is not None:
            d = 2 if self.bidirectional else 1
            zeros = x.new_zeros(x.shape[0], self.num_layers * d, self.hidden_size)
            hx = (_to_torch_state(zeros if h0 is None else h0),
                  _to_torch_state(zeros if c0 is None else c0))
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            with torch.autocast("cpu", enabled=False):
                y, (h, c) = super().forward(
                    x.float(), None if hx is None else (hx[0].float(), hx[1].float()))
        else:
            y, (h, c) = super().forward(x, hx)
        return y, (h.transpose(0, 1), c.transpose(0, 1))


def time_step(x: torch.Tensor, index: int = -1) -> torch.Tensor:
    """One step of a sequence: x[:, index] (N × T × F -> N × F)."""
    return x[:, index]


def time_slice(x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
    """Steps start .. stop − 1 of a sequence: x[:, start:stop]."""
    return x[:, start:stop]


class RecurrentLoop(nn.Module):
    """A block run once per time step (a recurrent loop, graph/loops.py): `cell` maps one
    step's inputs and the states to its outputs; each state output feeds its state input at
    the next step. Returns every step's outputs stacked over time (N × T × …), then the final
    states, in the instance's port order. An unwired initial state starts at zeros.

    inputs: the cell's inputs, in its call order; outputs: what it returns, in order; seq: the
    loop's sequence inputs (positional, in port order); pairs: (state output, state input);
    step_outputs: the outputs stacked over time; state_shapes: each state's shape (no batch)."""

    def __init__(self, cell: nn.Module | None = None, inputs=(), outputs=(), seq=(), pairs=(),
                 step_outputs=(), state_shapes=None, block: str = ""):
        super().__init__()
        self.block = block
        self.cell = cell
        self.inputs, self.outputs, self.seq = list(inputs), list(outputs), list(seq)
        self.pairs = [tuple(p) for p in pairs]
        self.step_outputs = list(step_outputs)
        self.state_shapes = {k: list(v) for k, v in (state_shapes or {}).items()}

    def extra_repr(self) -> str:
        return f"block={self.block!r}, states={[i for _, i in self.pairs]}"

    def initial_states(self, x0: torch.Tensor, init: dict) -> dict:
        """Each state at the first step: given, else zeros (x0's batch)."""
        state = {}
        for _, i in self.pairs:
            v = init.get(i)
            state[i] = v if v is not None else torch.zeros(
                (x0.shape[0], *self.state_shapes[i]), dtype=torch.float32, device=x0.device)
        return state

    def forward(self, *seqs: torch.Tensor, **init: torch.Tensor):
        state = self.initial_states(seqs[0], init)
        by_name = dict(zip(self.seq, seqs))
        per_step: dict[str, list[torch.Tensor]] = {o: [] for o in self.step_outputs}
        for t in range(seqs[0].shape[1]):
            feed = {p: s[:, t] for p, s in by_name.items()}
            feed.update(state)
            out = self.cell(*[feed[k] for k in self.inputs])
            got = dict(zip(self.outputs, out if isinstance(out, tuple) else (out,)))
            for o, values in per_step.items():
                values.append(got[o])
            state = {i: got[o] for o, i in self.pairs}
        result = [torch.stack(per_step[o], 1) for o in self.step_outputs]
        result += [state[i] for _, i in self.pairs]
        return result[0] if len(result) == 1 else tuple(result)
