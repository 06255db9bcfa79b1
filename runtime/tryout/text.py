"""Trying a character model (ARCHITECTURE.md, "A Try-panel mode"): text generated from a
prompt, one character at a time, at a chosen temperature."""
from __future__ import annotations

import math

import torch

from graph.spec import OutputKind

from .base import TryError


class TextMode:
    """Tryout's text-generation methods (a mixin: `self` is the Tryout)."""

    def text_model(self) -> tuple[str, str, bool]:
        """(input node, output node, whether the output is already probabilities) of a model
        that reads token ids and gives a distribution over the vocabulary at each step."""
        c = self.compiled
        if self.vocab is None:
            raise TryError("text generation needs a text dataset (its vocabulary): this one "
                           "has none")
        tokens = [n for n in c.inputs
                  if c.analysis.out_type(n, c.graph.spec(n).value_port).dtype == "int64"]
        dists = [n for n in c.outputs if self._per_step_scores(n)]
        if len(tokens) != 1 or len(dists) != 1 or len(c.inputs) != 1:
            raise TryError("text generation needs a model with one Input of token ids (N × T, "
                           "int64) and one Output of scores over the vocabulary at each step "
                           "(N × T × V)")
        src = c.graph.in_edges(dists[0])[0].src
        return tokens[0], dists[0], c.graph.spec(src).gives == OutputKind.PROBABILITIES

    def _per_step_scores(self, out: str) -> bool:
        c = self.compiled
        e = c.graph.in_edges(out)[0]
        t = c.analysis.edge_type(e)
        return t is not None and len(t.shape) == 3 and t.shape[-1] == len(self.vocab or ())

    @torch.no_grad()
    def generate(self, prompt: str, temperature: float = 1.0, length: int = 200,
                 seed: int = 0, window: int | None = None) -> str:
        """Continue `prompt` one character at a time: the model reads the last `window`
        characters (the training length T by default), the next one is drawn from its
        distribution at the last step, sharpened (temperature < 1) or flattened (> 1)."""
        from ..data.sequences import decode, encode
        _, out, probabilities = self.text_model()
        if not math.isfinite(temperature) or temperature <= 0:
            raise TryError("temperature must be a number above 0 (1 samples as trained, "
                           "lower is more conservative)")
        if not prompt:
            raise TryError("give a prompt of at least one character")
        ids = encode(prompt, self.vocab)
        window = window or int(self.val[self.compiled.inputs[0]].shape[-1])
        gen = torch.Generator().manual_seed(seed)
        c = self.compiled
        for _ in range(max(0, length)):
            x = torch.tensor([ids[-window:]], dtype=torch.long)
            scores = c.model(x)[0, -1].double()
            logp = torch.log(scores.clamp_min(1e-12)) if probabilities else \
                torch.log_softmax(scores, -1)
            p = torch.softmax(logp / temperature, -1)
            ids.append(int(torch.multinomial(p, 1, generator=gen)))
        return decode(ids[len(encode(prompt, self.vocab)):], self.vocab)
