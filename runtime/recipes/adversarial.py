"""A GAN's game (the seed notes): min_G max_D E[log D(x)] + E[log(1 − D(G(z)))].

Each optimizer record updates its own sub-network on its own losses, in the order listed
(the discriminator's first, then the generator's), every `every` steps; noise is drawn
afresh for each. Logged beside the losses: the means of D(x) and D(G(z)) (½ both at the
game's equilibrium). A few times a second the generator's samples of a fixed noise batch
are sent as a Samples event for the live view, and at each epoch's end the dataset judges
them where it knows how (the ring: modes covered, share of good samples). After each epoch's
last step one more is sent, marked `epoch_end`: the run folder keeps it (samples/).
"""
from __future__ import annotations

import time

import torch

from graph.spec import ParamRole

from .. import seeds
from ..epoch_metrics import discriminator_losses, value_names
from ..errors import TrainingError
from ..events import Samples
from .supervised import Supervised

LIVE_EVERY_S = 0.25  # the live view's refresh: a few times a second
LIVE_REAL, LIVE_FAKE = 512, 512  # points of the ring's scatter
LIVE_IMAGES = 36  # a 6 × 6 grid of generated images
JUDGE_SAMPLES = 2000


class Adversarial(Supervised):
    name = "adversarial"

    def __init__(self, ctx, c, trainable, needed):
        if not ctx.settings.optimizers:
            raise TrainingError(
                "The 'adversarial' recipe needs an optimizer record per player (training "
                "settings, Optimizers): one over the discriminator's sub-network with its "
                "loss, one over the generator's with its loss.")
        super().__init__(ctx, c, trainable, needed)
        graph = c.graph
        self.d_losses = {l: graph.spec(l).role_value(graph.params(l), ParamRole.FROM_LOGITS)
                         for l in discriminator_losses(c)}
        # The generator: the model, when it reads nothing but noise.
        self.generator_ok = c.generator and bool(c.outputs)
        seed = self.s.seed
        self._fixed = {}
        if self.generator_ok:
            g = seeds.stream(seed, seeds.LIVE_NOISE)
            t = c.analysis.edge_type(graph.in_edges(c.outputs[0])[0])
            shape = tuple(t.shape[1:]) if t is not None else ()
            n_live = LIVE_IMAGES if len(shape) > 1 else LIVE_FAKE
            self._fixed = {"live": [self.noise[z].sample(n_live, "cpu", g) for z in c.inputs],
                           "judge": [self.noise[z].sample(JUDGE_SAMPLES, "cpu", g)
                                     for z in c.inputs]}
            self.images = len(shape) > 1
        self._last_live = -1e9
        # some real samples beside the generated ones in the live view (the first Input's)
        real = next((t for k, t in ctx.train_data.items()
                     if graph.spec(k).role == "input"), None)
        n = LIVE_IMAGES if self.generator_ok and self.images else LIVE_REAL
        self.real = real[:n].cpu() if real is not None else None

    def observe(self, out: dict, parts: dict) -> None:
        several = len(self.d_losses) > 1
        for l, logits in self.d_losses.items():
            if l not in out["fakes"]:
                continue
            real, fake = out["preds"][l].detach(), out["fakes"][l].detach()
            if logits:
                real, fake = torch.sigmoid(real), torch.sigmoid(fake)
            pre = f"{l}." if several else ""
            parts[f"{pre}D(x)"] = real.float().mean()
            parts[f"{pre}D(G(z))"] = fake.float().mean()

    def value_names(self) -> list[str]:
        """Each record's losses, then D(x) and D(G(z)) per discriminator loss: the names
        runtime.epoch_metrics gives a run before it starts."""
        return value_names(self.c, self.s)

    def generate(self, which: str) -> torch.Tensor | None:
        """The generator's samples of a fixed noise batch (the same one every time, so the
        live view shows the generator changing, not the noise)."""
        if not self.generator_ok:
            return None
        model = self.c.model
        was = model.training
        model.eval()
        with torch.no_grad():
            out = model(*[z.to(self.ctx.device) for z in self._fixed[which]])
        model.train(was)
        return (out[0] if isinstance(out, tuple) else out).float().cpu()

    def epoch_metrics(self) -> dict[str, float]:
        judge = getattr(self.ctx.dataset, "judge", None)
        if judge is None or not self.generator_ok:
            return {}
        return judge(self.generate("judge"))

    def _epoch_ends(self, last: bool) -> bool:
        """Whether the step just taken ends its epoch (the run's last step ends one too)."""
        n = next((len(t) for t in self.ctx.train_data.values()), 0)
        return last or (n > 0 and self.ctx.pos.next_index >= n)

    def events(self, step: int, last: bool) -> list:
        now = time.perf_counter()
        end = self.generator_ok and self._epoch_ends(last)
        if not self.generator_ok or (now - self._last_live < LIVE_EVERY_S and not end):
            return []
        self._last_live = now
        fake = self.generate("live")
        judge = getattr(self.ctx.dataset, "judge", None)
        metrics = judge(fake) if judge is not None else {}
        real = self.real.tolist() if self.real is not None else []
        return [Samples(step, self.ctx.pos.epoch, real, fake.tolist(), list(fake.shape[1:]),
                        metrics, epoch_end=end)]
