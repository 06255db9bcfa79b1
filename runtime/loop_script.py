"""TorchScript and ONNX of a model with recurrent loops (runtime/recurrent.RecurrentLoop):
tracing would unroll a loop over the example's T steps (the trace fixes T), so each loop is
swapped, in a copy of the model, for one whose time loop is scripted (`Steps`): the loop
over the steps is TorchScript code (any T), its cell a trace of one step (any batch). The
rest of the model is traced as usual, the scripted part entering the trace as a call."""
from __future__ import annotations

import copy
from typing import List

import torch
from torch import nn


class _ListCell(nn.Module):
    """The cell called with a list of its inputs, returning a list of its outputs: one
    signature, whatever the block's ports (what the scripted loop can call)."""

    def __init__(self, cell: nn.Module):
        super().__init__()
        self.cell = cell

    def forward(self, xs: List[torch.Tensor]):
        out = self.cell(*xs)
        return list(out) if isinstance(out, tuple) else [out]


class Steps(nn.Module):
    """The loop over time, scripted: seqs (N × T × …) and the first states in; every step's
    outputs stacked over time, then the last states, out."""

    def __init__(self, cell: nn.Module, order: List[int], step_index: List[int],
                 state_index: List[int]):
        super().__init__()
        self.cell = cell
        self.order = order  # the cell's inputs, as indices into [seqs' steps..., states...]
        self.step_index = step_index  # the cell's outputs stacked over time
        self.state_index = state_index  # the cell's outputs fed back, in state order

    def forward(self, seqs: List[torch.Tensor], states: List[torch.Tensor]) -> List[torch.Tensor]:
        per_step: List[List[torch.Tensor]] = [[] for _ in range(len(self.step_index))]
        for t in range(seqs[0].size(1)):
            feed = [s[:, t] for s in seqs] + states
            out = self.cell([feed[k] for k in self.order])
            for j in range(len(self.step_index)):
                per_step[j].append(out[self.step_index[j]])
            states = [out[k] for k in self.state_index]
        return [torch.stack(v, 1) for v in per_step] + states


class ScriptedLoop(nn.Module):
    """A RecurrentLoop's stand-in for tracing: its first states made here (traced: zeros of
    the input's own batch size), its steps scripted."""

    def __init__(self, loop: nn.Module, example: tuple):
        super().__init__()
        self.pairs, self.shapes = loop.pairs, loop.state_shapes
        feed = list(loop.seq) + [i for _, i in loop.pairs]
        cell = torch.jit.trace(_ListCell(loop.cell), (list(example),), strict=False,
                               check_trace=False)
        self.steps = torch.jit.script(Steps(
            cell, [feed.index(k) for k in loop.inputs],
            [loop.outputs.index(o) for o in loop.step_outputs],
            [loop.outputs.index(o) for o, _ in loop.pairs]))

    def forward(self, *seqs: torch.Tensor, **init: torch.Tensor):
        x0 = seqs[0]
        states = [init[i] if init.get(i) is not None else
                  x0.new_zeros((x0.shape[0], *self.shapes[i]), dtype=torch.float32)
                  for _, i in self.pairs]
        result = self.steps(list(seqs), states)
        return result[0] if len(result) == 1 else tuple(result)


def has_loops(model: nn.Module) -> bool:
    return any(type(m).__name__ == "RecurrentLoop" for m in model.modules())


def scripted_loops(model: nn.Module, example: tuple) -> nn.Module:
    """A copy of `model` with each RecurrentLoop a ScriptedLoop (its cell traced on the
    inputs it gets at the first step of `model(*example)`)."""
    model = copy.deepcopy(model)
    loops = [(name, m) for name, m in model.named_modules()
             if type(m).__name__ == "RecurrentLoop"]
    seen: dict[str, tuple] = {}
    hooks = [m.cell.register_forward_pre_hook(
        lambda mod, args, name=name: seen.setdefault(name, args)) for name, m in loops]
    try:
        with torch.no_grad():
            model(*example)
    finally:
        for h in hooks:
            h.remove()
    for name, m in loops:
        parent, _, attr = name.rpartition(".")
        model.get_submodule(parent).add_module(attr, ScriptedLoop(m, seen[name]))
    return model
