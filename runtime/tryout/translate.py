"""Trying a sequence-to-sequence model (ARCHITECTURE.md, "A Try-panel mode"): a typed input
translated by greedy decoding, with the weights of the decoder's attention over the input."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from graph.spec import ParamRole, PortRole

from .base import TryError



@dataclass
class Translation:
    source: str  # the text as the model read it (characters outside the vocabulary: '�')
    output: str  # the decoded text, up to the end token
    source_tokens: list[str]  # one label per input position
    output_tokens: list[str]  # one label per output position (the end token included)
    # attention node -> weights, heads × output positions × input positions (1 head for the
    # encoder-decoder Attention node); only nodes whose queries come from the decoder
    attention: dict[str, np.ndarray] = field(default_factory=dict)


class TranslateMode:
    """Tryout's translation methods (a mixin: `self` is the Tryout)."""

    def seq2seq_model(self) -> tuple[str, str, str]:
        """(input node, output node, decode node) of a sequence-to-sequence model: one Input
        of token ids and a Greedy decode node whose tokens reach an Output."""
        from ..data import seq2seq
        c = self.compiled
        vocab = self.vocab or []
        if not c.steps or tuple(vocab[:len(seq2seq.SPECIAL)]) != seq2seq.SPECIAL:
            raise TryError("translation needs a sequence-to-sequence model (a Greedy decode "
                           "node) trained on a dataset with a token vocabulary (dates, "
                           "reverse, copy)")
        g = next(iter(c.steps))
        outs = [e.dst for e in c.graph.out_edges(g) if e.dst in c.outputs]
        if len(c.inputs) != 1 or not outs:
            raise TryError("translation needs one Input of token ids and the Greedy decode's "
                           "tokens on an Output")
        return c.inputs[0], outs[0], g

    def attention_nodes(self) -> list[str]:
        """The attention nodes of the decoder whose keys come from outside it (the encoder):
        their weights align output positions with input positions. Decoder self-attention
        (queries and keys both the decoder's) comes after them."""
        c = self.compiled
        found = []
        for g, step in c.steps.items():
            members = set(c.analysis.phases.steps[g])
            for n in c.analysis.phases.steps[g]:
                spec = c.graph.spec(n)
                if spec.out_role_or_none(PortRole.ATTENTION) is None:
                    continue
                key = c.graph.in_edges(n, spec.in_role(PortRole.KEYS))
                cross = bool(key) and key[0].src not in members
                found.append((not cross, n))
        return [n for _, n in sorted(found, key=lambda t: t[0])]

    @torch.no_grad()
    def translate(self, text: str) -> Translation:
        from ..data import seq2seq
        src_node, out_node, g = self.seq2seq_model()
        if not text.strip():
            raise TryError("type something to translate")
        vocab = self.vocab
        ids = seq2seq.encode(text, vocab)
        c = self.compiled
        pe = [n for n in c.analysis.order
              if c.graph.spec(n).param_role(ParamRole.MAX_POSITIONS) is not None]
        if pe:
            limit = min(c.graph.spec(pe[0]).role_value(c.graph.params(pe[0]),
                                                       ParamRole.MAX_POSITIONS), 4096)
            if len(ids) > limit:
                raise TryError(f"the input has {len(ids)} characters; the model's positional "
                               f"encoding holds {limit}")
        # Padded like the data it trained on (an RNN encoder reads the padding too, so an
        # unpadded input would be one it never saw); padded keys get no attention
        width = max(len(ids), int(self.val[src_node].shape[-1]))
        x = torch.tensor([ids + [seq2seq.PAD_ID] * (width - len(ids))], dtype=torch.long)
        captured: dict[str, torch.Tensor] = {}
        nodes = self.attention_nodes()
        hooks = [c.module(n).register_forward_hook(
            lambda _m, _i, out, n=n: captured.__setitem__(n, out[1].detach()))
            for n in nodes]
        try:
            out = c.model(x)
        finally:
            for h in hooks:
                h.remove()
        tokens = out[c.outputs.index(out_node)] if isinstance(out, tuple) else out
        row = [int(t) for t in tokens[0]]
        n_out = next((i + 1 for i, t in enumerate(row) if t == seq2seq.END_ID), len(row))
        attention = {}
        for n, w in captured.items():  # the last call: the whole prefix, every position
            a = w[0].float()
            a = a[None] if a.dim() == 2 else a  # heads × T_q × T_k
            attention[n] = a[:, :n_out, :len(ids)].numpy()
        label = lambda i: {seq2seq.END_ID: "</s>", seq2seq.PAD_ID: "·"}.get(i, vocab[i])  # noqa: E731
        return Translation(seq2seq.decode(ids, vocab), seq2seq.decode(row, vocab),
                           [vocab[i] for i in ids], [label(i) for i in row[:n_out]], attention)
