"""Generative adversarial networks (issue 12): the noise a generator starts from, the same
network applied at a second place, an explicit stop of the gradient, and the two players'
losses of the seed's minimax game.

    min_G max_D  V(D, G) = E_x[log D(x)] + E_z[log(1 − D(G(z)))]

D is trained to tell real samples from generated ones, G to make D wrong. Each player has
its own optimizer record (graph/settings.py) over its own sub-network's weights.
"""
from __future__ import annotations

from ..spec import BATCH, Call, Doc, NodeSpec, Param, Port, TensorType, is_symbol
from ._common import COLORS
from .losses import SCALAR, WEIGHT

GEN = "Generative"
LOSS = "Loss"


def _noise_shape(ctx):
    dims = ctx.p["shape"]
    if any(is_symbol(d) for d in dims):
        ctx.fail("needs whole-number sizes: noise has no sequence length to take from data")
    return {"z": TensorType((BATCH, *dims), "float32")}


NOISE = NodeSpec(
    type="Noise", title="Noise source z", category=GEN, role="noise", id_prefix="z",
    inputs=(),
    outputs=(Port("z", role="value", doc="a fresh random batch N × size, every step"),),
    params=(Param("shape", "shape", [8], "The size of one noise sample (the latent "
                  "vector's length, e.g. [8]; [64, 1, 1] for a convolutional generator).",
                  role="sample_shape"),
            Param("distribution", "choice", "normal",
                  "normal: z ~ N(0, I). uniform: each entry ~ U(−1, 1).",
                  choices=("normal", "uniform"), role="noise_distribution")),
    shape=_noise_shape, color=COLORS[GEN],
    doc=Doc(
        summary="The random input a generator turns into samples. It needs no dataset field: "
                "training draws a new batch every step, as many samples as the real batch "
                "has; the exported generator takes z as its input.",
        formula="z ~ N(0, I)   or   zᵢ ~ U(−1, 1)",
        use_case="The input of a GAN's generator G(z).",
        notes="Noise is drawn from the run's seeded random generator, so a run repeats "
              "exactly, and a resumed run draws what the uninterrupted one would have."))


DETACH = NodeSpec(
    type="Detach", title="Stop gradient (detach)", category="Structure", id_prefix="detach",
    inputs=(Port("x"),), outputs=(Port("y"),), params=(),
    shape=lambda ctx: {"y": ctx.ins["x"]},
    build=lambda ctx: Call("ops.detach"), color=COLORS["Structure"],
    doc=Doc(
        summary="Passes its input on unchanged, but no gradient flows back through it.",
        formula="forward:  y = x\nbackward: ∂L/∂x = 0",
        use_case="A GAN's discriminator update: D learns from G(z) as a constant, so the "
                 "discriminator's loss spends no time on the generator's gradients (and "
                 "leaves them for the generator's own update).",
        notes="Gradient descent follows ∂L/∂w back through every wire; this node is where "
              "you say 'not past here'."))


def _apply_shape(ctx):
    # analysis.py infers this node's type from the sub-network it applies (see
    # graph/subnets.py); the rule here only runs when that is not possible.
    ctx.fail(f"applies the sub-network '{ctx.p['subnet']}', which is not set up")


SHARED = NodeSpec(
    type="SharedNetwork", title="Shared network (apply again)", category="Structure",
    role="apply", id_prefix="apply",
    inputs=(Port("x", doc="what the sub-network reads this time"),),
    outputs=(Port("y", doc="what the sub-network gives for it"),),
    params=(Param("subnet", "str", "discriminator",
                  "The name of the sub-network to apply (set a node's sub-network in the "
                  "inspector). It must read one value from outside and give one value.",
                  role="subnet"),),
    shape=_apply_shape, color=COLORS["Structure"],
    doc=Doc(
        summary="Runs a sub-network again on another input, with the same weights (nothing "
                "is copied: one set of parameters, two uses, gradients from both add up).",
        formula="y = f(x; θ)   with θ the sub-network's own weights",
        use_case="A GAN's discriminator judging both the real batch D(x) and the generated "
                 "one D(G(z)); a Siamese network comparing two inputs with one encoder.",
        notes="Its input must have the type the sub-network's first layer receives (the "
              "batch size may differ); its output has the type of the sub-network's last."))


FROM_LOGITS = Param("from_logits", "bool", True,
                    "On: D gives raw scores s and D(x) = σ(s) is folded into the loss "
                    "(numerically safe: log σ(s) = −softplus(−s)). Off: D ends in a Sigmoid "
                    "and gives probabilities.", role="from_logits")


def _scores(ctx, ports):
    for p in ports:
        t = ctx.ins[p]
        if t.dtype != "float32" or len(t.shape) != 2 or t.shape[1] != 1:
            ctx.fail(f"needs the discriminator's score, N × 1, but '{ctx.src(p)}' gives {t}",
                     p)
    return {"loss": SCALAR}


D_LOSS = NodeSpec(
    type="DiscriminatorLoss", title="GAN discriminator loss", category=LOSS, role="loss",
    id_prefix="d_loss",
    inputs=(Port("real", role="pred", doc="D(x): the discriminator's score of real samples"),
            Port("fake", role="fake", doc="D(G(z)): its score of generated samples")),
    outputs=(Port("loss", kind="loss", role="loss"),),
    params=(FROM_LOGITS, WEIGHT), shape=lambda ctx: _scores(ctx, ("real", "fake")),
    build=lambda ctx: Call("ops.gan_d_loss", {"from_logits": ctx.p["from_logits"]}),
    color=COLORS[LOSS], metric=None,
    doc=Doc(
        summary="The discriminator's side of the minimax game: classify real samples as "
                "real (1) and generated ones as fake (0). Minimising it is D's max over "
                "V(D, G).",
        formula="L_D = −(1/n) Σᵢ [log D(xᵢ) + log(1 − D(G(zᵢ)))]\n"
                "    = BCE(D(x), 1) + BCE(D(G(z)), 0)",
        use_case="The discriminator's loss in every GAN; its optimizer record updates the "
                 "discriminator's sub-network only. Wire G(z) through a Stop gradient node.",
        notes="At the game's equilibrium D(x) = D(G(z)) = ½ and L_D = 2 log 2 ≈ 1.386: the "
              "run logs the means of D(x) and D(G(z)) beside the losses to show it."))

G_LOSS = NodeSpec(
    type="GeneratorLoss", title="GAN generator loss", category=LOSS, role="loss",
    id_prefix="g_loss",
    inputs=(Port("fake", role="pred", doc="D(G(z)): the discriminator's score of generated "
                                          "samples, gradients flowing back into G"),),
    outputs=(Port("loss", kind="loss", role="loss"),),
    params=(Param("form", "choice", "non-saturating",
                  "non-saturating: −log D(G(z)), strong gradients while D still wins (the "
                  "usual choice). minimax: log(1 − D(G(z))), the seed's formula, whose "
                  "gradient vanishes when D rejects G's samples confidently.",
                  choices=("non-saturating", "minimax")),
            FROM_LOGITS, WEIGHT),
    shape=lambda ctx: _scores(ctx, ("fake",)),
    build=lambda ctx: Call("ops.gan_g_loss", {"form": ctx.p["form"],
                                               "from_logits": ctx.p["from_logits"]}),
    color=COLORS[LOSS], metric=None,
    doc=Doc(
        summary="The generator's side: make the discriminator call generated samples real.",
        formula="minimax:         L_G = (1/n) Σᵢ log(1 − D(G(zᵢ)))\n"
                "non-saturating:  L_G = −(1/n) Σᵢ log D(G(zᵢ))",
        use_case="The generator's loss in every GAN; its optimizer record updates the "
                 "generator's sub-network only (D's weights stay as they are).",
        notes="Both have the same fixed point. Early in training D rejects G's samples "
              "(D(G(z)) ≈ 0), where log(1 − D) is flat: G learns almost nothing. −log D is "
              "steep there, which is why it is the default (Goodfellow et al., 2014)."))

SPECS = (NOISE, DETACH, SHARED, D_LOSS, G_LOSS)
