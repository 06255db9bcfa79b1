"""The few operations torch lacks under the name and contract a catalogue entry needs.

Each is small, plain PyTorch. The standalone Python export (issue 4) copies the ones a model
uses into the exported file, so they must stay self-contained (torch imports only). The
recurrent layers are in runtime/recurrent.py, the loss functions in runtime/losses.py, the
object detection ones in runtime/detection/: compile.OP_MODULES lists where a catalogue's
"ops.<name>" is looked up.
"""
from __future__ import annotations

import functools
import math
import operator

import torch
import torch.nn.functional as F
from torch import nn


def step(z: torch.Tensor) -> torch.Tensor:
    """Heaviside step: 1 where z >= 0, else 0 (no gradient)."""
    return (z >= 0).to(z.dtype)


class Perceptron(nn.Module):
    """Rosenblatt's perceptron: y = step(W x + b). It learns by the perceptron rule, not by
    gradients, so its parameters do not require grad."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features), requires_grad=False)
        self.bias = nn.Parameter(torch.empty(out_features), requires_grad=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        bound = 1 / math.sqrt(self.in_features)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return step(F.linear(x, self.weight, self.bias))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class Standardize(nn.Module):
    """Feature standardisation (z-score): y = (x - mean) / std, per feature. mean and std are
    buffers fitted on the training split (never on validation data) and saved with the
    weights, so the exported model applies the same scaling to raw features."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features
        self.register_buffer("mean", torch.zeros(num_features))
        self.register_buffer("std", torch.ones(num_features))

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> None:
        """Mean and standard deviation of each feature of `x` (N × F); a constant feature
        keeps std 1, so it becomes 0 rather than NaN."""
        x = x.to(self.mean.dtype)
        self.mean.copy_(x.mean(0))
        std = x.std(0, unbiased=False) if x.shape[0] > 1 else torch.ones_like(self.std)
        self.std.copy_(torch.where(std > 1e-12, std, torch.ones_like(std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Normalize(nn.Module):
    """Per-channel image normalisation: y_c = (x_c − mean_c) / std_c over N × C × H × W.
    Given values (data.augment.normalize lists) stay; otherwise fit() takes each channel's
    mean and standard deviation over the training split. Buffers saved with the weights, so
    an exported model takes raw images."""

    def __init__(self, channels: int, mean: list | None = None, std: list | None = None):
        super().__init__()
        self.channels, self.fixed = channels, mean is not None
        self.register_buffer("mean", torch.tensor(mean or [0.0] * channels).view(-1, 1, 1))
        self.register_buffer("std", torch.tensor(std or [1.0] * channels).view(-1, 1, 1))

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> None:
        if self.fixed:
            return
        x = x.to(self.mean.dtype).transpose(0, 1).reshape(self.channels, -1)
        std = x.std(1, unbiased=False)
        self.mean.copy_(x.mean(1).view(-1, 1, 1))
        self.std.copy_(torch.where(std > 1e-12, std, torch.ones_like(std)).view(-1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def add_all(xs: list[torch.Tensor]) -> torch.Tensor:
    """x₁ + x₂ + … + xₖ."""
    return functools.reduce(operator.add, xs)


def mul_all(xs: list[torch.Tensor]) -> torch.Tensor:
    """x₁ ⊙ x₂ ⊙ … ⊙ xₖ, element by element."""
    return functools.reduce(operator.mul, xs)


def one_minus(x: torch.Tensor) -> torch.Tensor:
    """1 − x (a gate's complement)."""
    return 1 - x


def reshape(x: torch.Tensor, shape: list[int]) -> torch.Tensor:
    """Reshape each sample, keeping the batch dimension."""
    return x.reshape(x.shape[0], *shape)


# Attention (issue 11). Masks are bool, True where a position is masked out (a padded key, a
# future step), as in nn.MultiheadAttention; F.scaled_dot_product_attention reads a bool
# mask the other way round (True = takes part), so it is inverted before it goes there.

def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """softmax over the last dim with the masked positions (True) left out: their weight is
    0. A row whose every position is masked gets weights 0, not NaN (the softmax of all −∞),
    in the forward pass and in the gradients, so one all-padding sequence cannot poison a
    batch. `mask` broadcasts over `scores`."""
    if mask is None:
        return torch.softmax(scores, -1)
    dead = mask.all(-1, keepdim=True)
    weights = torch.softmax(scores.masked_fill(mask & ~dead, float("-inf")), -1)
    return weights.masked_fill(mask, 0.0)


def attention_mask(query: torch.Tensor, key: torch.Tensor,
                   attn_mask: torch.Tensor | None = None,
                   key_padding_mask: torch.Tensor | None = None,
                   causal: bool = False) -> torch.Tensor | None:
    """The masks merged into one bool mask (True = masked out) that broadcasts over the
    scores … × T_q × T_k, or None. attn_mask is T_q × T_k or N × T_q × T_k, key_padding_mask
    N × T_k; query and key may carry a heads axis (N × H × T × d)."""
    mask = None
    if causal:
        t_q, t_k = query.shape[-2], key.shape[-2]
        mask = torch.ones(t_q, t_k, dtype=torch.bool, device=query.device).triu(1)
    if attn_mask is not None:
        m = attn_mask.unsqueeze(1) if attn_mask.dim() == 3 and query.dim() == 4 else attn_mask
        mask = m if mask is None else mask | m
    if key_padding_mask is not None:
        m = key_padding_mask
        for _ in range(query.dim() - 2):  # N × T_k -> N × 1 × T_k (N × 1 × 1 × T_k by head)
            m = m.unsqueeze(1)
        mask = m if mask is None else mask | m
    return mask


def scaled_dot_product_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                                 key_padding_mask: torch.Tensor | None = None,
                                 attn_mask: torch.Tensor | None = None, causal: bool = False,
                                 dropout_p: float = 0.0):
    """Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V, and the weights softmax(Q Kᵀ / √d_k).

    Q is N × T_q × d_k (or N × H × T_q × d_k), K N × T_k × d_k, V N × T_k × d_v. Masks are
    bool, True = masked out (see attention_mask); `causal` masks every key after the query's
    position. Returns (out N × T_q × d_v, weights N × T_q × T_k). The values come from
    torch's F.scaled_dot_product_attention (a fused kernel where the device has one), the
    weights, which it does not return, from the formula. With `dropout_p` (training) the
    weights are dropped out before they weigh the values; the weights returned are not."""
    mask = attention_mask(query, key, attn_mask, key_padding_mask, causal)
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])
    weights = masked_softmax(scores, mask)
    if dropout_p > 0.0:
        return F.dropout(weights, dropout_p) @ value, weights
    if mask is None:
        out = F.scaled_dot_product_attention(query, key, value)
    elif attn_mask is None and key_padding_mask is None:  # causal alone: no row is all masked
        out = F.scaled_dot_product_attention(query, key, value, is_causal=True)
    else:
        dead = mask.all(-1, keepdim=True)  # a query with no key to see: 0, not NaN
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=~mask | dead)
        out = out.masked_fill(dead, 0.0)
    return out, weights


class Attention(nn.Module):
    """Encoder-decoder attention with a choice of score, the seed notes' "dot product,
    multiplicative, or additive":

        dot       e_tj = s_tᵀ h_j
        general   e_tj = s_tᵀ W h_j                 W: query_size × key_size (Luong)
        additive  e_tj = vᵀ tanh(W_1 s_t + W_2 h_j)  W_1: A × query_size, W_2: A × key_size,
                                                     v: A (Bahdanau)
        α_tj = softmax_j(e_tj),   c_t = Σ_j α_tj h_j

    forward(query, key, value=None, key_padding_mask=None) -> (context, weights): query (the
    decoder states s) N × T_q × D_q or one step N × D_q, key (the encoder states h)
    N × T_k × D_k, value N × T_k × D_v (the keys when not given), key_padding_mask bool
    N × T_k (True = padding, weight 0)."""

    def __init__(self, score: str, query_size: int, key_size: int,
                 attention_dim: int | None = None):
        super().__init__()
        if score not in ("dot", "general", "additive"):
            raise ValueError(f"unknown score {score!r} (dot, general or additive)")
        if score == "dot" and query_size != key_size:
            raise ValueError(f"score 'dot' needs query_size = key_size, got {query_size} and "
                             f"{key_size}")
        self.score, self.query_size, self.key_size = score, query_size, key_size
        if score == "general":
            self.W = nn.Parameter(torch.empty(query_size, key_size))
        elif score == "additive":
            a = key_size if attention_dim is None else attention_dim
            self.attention_dim = a
            self.W_1 = nn.Parameter(torch.empty(a, query_size))
            self.W_2 = nn.Parameter(torch.empty(a, key_size))
            self.v = nn.Parameter(torch.empty(a))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(−1/√fan_in, 1/√fan_in), as nn.Linear's weights."""
        for p in self.parameters():
            bound = 1 / math.sqrt(p.shape[-1])
            nn.init.uniform_(p, -bound, bound)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor | None = None,
                key_padding_mask: torch.Tensor | None = None):
        step = query.dim() == 2
        s = query.unsqueeze(1) if step else query  # N × T_q × D_q
        if self.score == "dot":
            e = s @ key.transpose(1, 2)
        elif self.score == "general":
            e = (s @ self.W) @ key.transpose(1, 2)
        else:  # N × T_q × 1 × A  +  N × 1 × T_k × A, then · v
            e = torch.tanh((s @ self.W_1.T).unsqueeze(2) + (key @ self.W_2.T).unsqueeze(1)) \
                @ self.v
        mask = None if key_padding_mask is None else key_padding_mask.unsqueeze(1)
        weights = masked_softmax(e, mask)  # N × T_q × T_k
        context = weights @ (key if value is None else value)
        if step:
            return context.squeeze(1), weights.squeeze(1)
        return context, weights

    def extra_repr(self) -> str:
        extra = f", attention_dim={self.attention_dim}" if self.score == "additive" else ""
        return (f"score={self.score!r}, query_size={self.query_size}, "
                f"key_size={self.key_size}{extra}")


class MultiHeadAttention(nn.Module):
    """Multi-head attention, batch first, with nn.MultiheadAttention's parameters (names,
    shapes and initialisation: in_proj_weight, or q/k/v_proj_weight when key or value have
    other sizes than the query; in_proj_bias; out_proj), so weights load either way.

        head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V),  MultiHead = [head_1, …, head_h] W^O

    forward(query, key, value, key_padding_mask=None, attn_mask=None) -> (out N × T_q × E,
    weights N × H × T_q × T_k, each head's). Masks are bool, True = masked out; `causal`
    masks every key after the query's position."""

    def __init__(self, embed_dim: int, num_heads: int, kdim: int | None = None,
                 vdim: int | None = None, bias: bool = True, dropout: float = 0.0,
                 causal: bool = False):
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not a multiple of num_heads "
                             f"{num_heads}")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self.head_dim = embed_dim // num_heads
        self.dropout, self.causal = dropout, causal
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = nn.Parameter(torch.empty(embed_dim, embed_dim))
            self.k_proj_weight = nn.Parameter(torch.empty(embed_dim, self.kdim))
            self.v_proj_weight = nn.Parameter(torch.empty(embed_dim, self.vdim))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dim))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.MultiheadAttention's: Xavier-uniform projections, zero biases."""
        if self._qkv_same_embed_dim:
            nn.init.xavier_uniform_(self.in_proj_weight)
        else:
            nn.init.xavier_uniform_(self.q_proj_weight)
            nn.init.xavier_uniform_(self.k_proj_weight)
            nn.init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            nn.init.zeros_(self.in_proj_bias)
            nn.init.zeros_(self.out_proj.bias)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                key_padding_mask: torch.Tensor | None = None,
                attn_mask: torch.Tensor | None = None):
        if self.in_proj_weight is not None:
            w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        else:
            w_q, w_k, w_v = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        b_q = b_k = b_v = None
        if self.in_proj_bias is not None:
            b_q, b_k, b_v = self.in_proj_bias.chunk(3)
        heads = (self.num_heads, self.head_dim)  # N × T × E -> N × H × T × E/H
        q = F.linear(query, w_q, b_q).unflatten(-1, heads).transpose(1, 2)
        k = F.linear(key, w_k, b_k).unflatten(-1, heads).transpose(1, 2)
        v = F.linear(value, w_v, b_v).unflatten(-1, heads).transpose(1, 2)
        out, weights = scaled_dot_product_attention(
            q, k, v, key_padding_mask, attn_mask, self.causal,
            self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).flatten(-2)), weights

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, kdim={self.kdim}, "
                f"vdim={self.vdim}, dropout={self.dropout}, causal={self.causal}")


class PositionalEncoding(nn.Module):
    """y = x + PE[:T] for a sequence x (N × T × D, T ≤ max_len). 'sinusoidal' (the
    Transformer paper's): PE(pos, 2i) = sin(pos / 10000^(2i/D)), PE(pos, 2i+1) =
    cos(pos / 10000^(2i/D)), a buffer recomputed from the sizes (not saved with the
    weights); 'learned': a trained max_len × D table."""

    def __init__(self, d_model: int, max_len: int = 512, kind: str = "sinusoidal"):
        super().__init__()
        self.d_model, self.max_len, self.kind = d_model, max_len, kind
        if kind == "sinusoidal":
            pos = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
            div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64)
                            * (-math.log(10000.0) / d_model))  # 1 / 10000^(2i/D)
            pe = torch.zeros(max_len, d_model, dtype=torch.float64)
            pe[:, 0::2] = torch.sin(pos * div)
            pe[:, 1::2] = torch.cos(pos * div[: d_model // 2])
            self.register_buffer("pe", pe.float(), persistent=False)
        elif kind == "learned":
            self.pe = nn.Parameter(torch.empty(max_len, d_model))
            nn.init.normal_(self.pe, std=0.02)
        else:
            raise ValueError(f"unknown positional encoding {kind!r} (sinusoidal or learned)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] > self.max_len:
            raise ValueError(f"the positional encoding holds {self.max_len} positions "
                             f"(max_len) but the sequence has {x.shape[1]} steps")
        return x + self.pe[: x.shape[1]]

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}, kind={self.kind!r}"


def causal_mask(x: torch.Tensor) -> torch.Tensor:
    """The causal mask for a sequence x (N × T or N × T × D): bool T × T, True above the
    diagonal (key j > query t: the future, masked out)."""
    t = x.shape[1]
    return torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)


def padding_mask(x: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    """bool N × T, True where the token ids x equal pad_id (padding, masked out)."""
    return x == pad_id


def identity(x: torch.Tensor) -> torch.Tensor:
    return x


def detach(x: torch.Tensor) -> torch.Tensor:
    """Stop gradient: y = x forward, nothing flows back."""
    return x.detach()


def sample_noise(n: int, shape, distribution: str = "normal", device=None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """A Noise node's batch: n × shape, N(0, I) or U(−1, 1), from torch's global generator
    (in training, seeded by the run and saved in its checkpoints), or from `generator`: drawn
    where the generator is (the CPU), then moved to `device`."""
    size = (n, *shape)
    where = device if generator is None else None
    if distribution == "uniform":
        z = torch.rand(size, device=where, generator=generator) * 2 - 1
    else:
        z = torch.randn(size, device=where, generator=generator)
    return z if generator is None else z.to(device)


def shift_right(target: torch.Tensor, start: int = 1) -> torch.Tensor:
    """Teacher forcing: the decoder's previous tokens (<start>, y_1 … y_{T−1}) for targets
    y_1 … y_T (N × T token ids)."""
    first = torch.full_like(target[:, :1], start)
    return torch.cat([first, target[:, :-1]], 1)


class GreedyDecode(nn.Module):
    """Greedy decoding: forward(*context) -> N × max_len token ids. From the start token it
    runs `step(tokens, *context)` (the decoder: its scores N × t × V for the t tokens so far),
    appends the last position's argmax, and repeats until every row has produced `end` or
    max_len tokens; after its end token a row holds `pad`.

    `step` is set by compile (`bind`). It is not a submodule: its modules are the model's
    own, already registered under their node names, and the state dict holds them once."""

    def __init__(self, max_len: int, end: int = 2, pad: int = 0, start: int = 1,
                 batch_from: int = 0):
        super().__init__()
        self.max_len, self.end, self.pad, self.start = max_len, end, pad, start
        self.batch_from = batch_from
        self.early_stop = True
        self.__dict__["step"] = None

    def bind(self, step, start: int, batch_from: int) -> None:
        self.__dict__["step"] = step
        self.start, self.batch_from = start, batch_from

    def forward(self, *context: torch.Tensor) -> torch.Tensor:
        ref = context[self.batch_from]
        # N × 1 tokens made from the data, not from a size: a trace (TorchScript, ONNX) then
        # takes any batch size
        column = ref.reshape(ref.shape[0], -1)[:, :1]
        tokens = torch.zeros_like(column, dtype=torch.long) + self.start
        done = tokens[:, 0] != tokens[:, 0]
        for _ in range(self.max_len):
            scores = self.step(tokens, *context)
            nxt = scores[:, -1].argmax(-1)
            nxt = torch.where(done, torch.full_like(nxt, self.pad), nxt)
            tokens = torch.cat([tokens, nxt[:, None]], 1)
            done = done | (nxt == self.end)
            # Stop once every row has ended; an export runs all max_len steps (a fixed loop
            # traces, a data-dependent stop does not), which gives the same tokens.
            if self.early_stop and bool(done.all()):
                break
        out = tokens[:, 1:]
        if out.shape[1] < self.max_len:
            out = torch.cat([out, torch.full_like(out[:, :1], self.pad)
                             .expand(-1, self.max_len - out.shape[1])], 1)
        return out

    def extra_repr(self) -> str:
        return f"max_len={self.max_len}, start={self.start}, end={self.end}, pad={self.pad}"


class LearnedTensor(nn.Module):
    """A bare learned tensor (a ViT's class token or position embeddings): forward() gives
    it. Held as `weight` (an nn.Parameter, or a buffer when `learn` is off), so its saved
    key is <node>.weight. init: 'zeros', 'ones', 'normal' N(0, std²), 'uniform' [−std, std]."""

    def __init__(self, shape: list[int], init: str = "zeros", std: float = 0.02,
                 learn: bool = True, dtype: str = "float32"):
        super().__init__()
        self.init, self.std = init, std
        value = torch.empty(list(shape), dtype=getattr(torch, dtype))  # int64, bool: fixed
        if learn:
            self.weight = nn.Parameter(value)
        else:
            self.register_buffer("weight", value)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            if self.init == "zeros":
                self.weight.zero_()
            elif self.init == "ones":
                self.weight.fill_(1.0)
            elif self.init == "normal":
                self.weight.normal_(0.0, self.std)
            elif self.init == "uniform":
                self.weight.uniform_(-self.std, self.std)
            else:
                raise ValueError(f"unknown init {self.init!r}")

    def forward(self) -> torch.Tensor:
        return self.weight

    def extra_repr(self) -> str:
        return f"shape={list(self.weight.shape)}, init={self.init!r}, std={self.std}"


def expand_to_batch(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """x (1 × …) repeated, as a view, for each of the N samples of `like`: N × …."""
    return x.expand([like.shape[0]] + list(x.shape[1:]))
