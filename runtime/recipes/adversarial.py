"""A GAN's game (the seed notes): min_G max_D E[log D(x)] + E[log(1 − D(G(z)))].

Each optimizer record updates its own sub-network on its own losses, in the order listed
(the discriminator's first, then the generator's), every `every` steps; noise is drawn
afresh for each. Logged beside the losses: the means of D(x) and D(G(z)) (½ both at the
game's equilibrium). A few times a second the generator's samples of a fixed noise batch
are sent as a Samples event for the live view, and at each epoch's end the dataset judges
them where it knows how (the ring: modes covered, share of good samples).
"""
from __future__ import annotations

import time

import torch

from ..events import Samples
from .base import sample_noise
from .supervised import Supervised

LIVE_EVERY_S = 0.25  # the live view's refresh: a few times a second
LIVE_REAL, LIVE_FAKE = 512, 512  # points of the ring's scatter
LIVE_IMAGES = 36  # a 6 × 6 grid of generated images
JUDGE_SAMPLES = 2000


class Adversarial(Supervised):
    name = "adversarial"

    def __init__(self, trainer, c, trainable, needed):
        from ..train import TrainingError
        if not trainer.settings.optimizers:
            raise TrainingError(
                "The 'adversarial' recipe needs an optimizer record per player (training "
                "settings, Optimizers): one over the discriminator's sub-network with its "
                "loss, one over the generator's with its loss.")
        super().__init__(trainer, c, trainable, needed)
        graph = c.graph
        self.d_losses = {l: graph.spec(l).resolved(graph.params(l))["from_logits"]
                         for l in c.losses if graph.spec(l).type == "DiscriminatorLoss"}
        # The generator: the model, when it reads nothing but noise.
        self.generator_ok = bool(c.inputs) and bool(c.outputs) and all(
            graph.spec(n).role == "noise" for n in c.inputs)
        seed = self.s.seed
        self._fixed = {}
        if self.generator_ok:
            g = torch.Generator().manual_seed(seed + 3)
            t = c.analysis.edge_type(graph.in_edges(c.outputs[0])[0])
            shape = tuple(t.shape[1:]) if t is not None else ()
            n_live = LIVE_IMAGES if len(shape) > 1 else LIVE_FAKE
            self._fixed = {"live": [sample_noise(n_live, self.noise[z], "cpu", g)
                                    for z in c.inputs],
                           "judge": [sample_noise(JUDGE_SAMPLES, self.noise[z], "cpu", g)
                                     for z in c.inputs]}
            self.images = len(shape) > 1
        self._last_live = -1e9
        # some real samples beside the generated ones in the live view (the first Input's)
        real = next((t for k, t in trainer.train_data.items()
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
        names = [f"{l}.loss" for r in self.recs for l in r.spec.losses]
        several = len(self.d_losses) > 1
        for l in self.d_losses:
            pre = f"{l}." if several else ""
            names += [f"{pre}D(x)", f"{pre}D(G(z))"]
        return list(dict.fromkeys(names))

    def generate(self, which: str) -> torch.Tensor | None:
        """The generator's samples of a fixed noise batch (the same one every time, so the
        live view shows the generator changing, not the noise)."""
        if not self.generator_ok:
            return None
        model = self.c.model
        was = model.training
        model.eval()
        with torch.no_grad():
            out = model(*[z.to(self.t.device) for z in self._fixed[which]])
        model.train(was)
        return (out[0] if isinstance(out, tuple) else out).float().cpu()

    def epoch_metrics(self) -> dict[str, float]:
        judge = getattr(self.t.dataset, "judge", None)
        if judge is None or not self.generator_ok:
            return {}
        return judge(self.generate("judge"))

    def events(self, step: int, last: bool) -> list:
        now = time.perf_counter()
        if not self.generator_ok or (now - self._last_live < LIVE_EVERY_S and not last):
            return []
        self._last_live = now
        fake = self.generate("live")
        judge = getattr(self.t.dataset, "judge", None)
        metrics = judge(fake) if judge is not None else {}
        real = self.real.tolist() if self.real is not None else []
        return [Samples(step, self.t.pos.epoch, real, fake.tolist(), list(fake.shape[1:]),
                        metrics)]
