"""Training recipes: how one step of training changes the weights (ARCHITECTURE.md, recipes).

The Trainer (runtime/train.py) owns the loop: data order, events, pause and stop, logging,
checkpoints and devices. A recipe owns the step: what runs forward, what is minimised, which
weights move and how. It sees the run through a RecipeContext (base.py), never the Trainer
(nothing here imports runtime/train.py). One module each:

- supervised: backpropagation of the summed losses with one optimizer (or several
  optimizer records, each over its own sub-network and losses);
- perceptron: the perceptron learning rule, no gradients;
- adversarial: a GAN's two players, each record updating its own sub-network, with noise
  drawn afresh for each, and D(x), D(G(z)) and samples reported;
- sam: Sharpness-Aware Minimization, the supervised step with the gradient taken at
  w + ρ g / ‖g‖ (training.sam_rho).
"""
from __future__ import annotations

from ..optim import OptimizerSet
from .base import Recipe, RecipeContext, StepResult
from .adversarial import Adversarial
from .perceptron import PerceptronRule
from .sam import SAM
from .supervised import Supervised

RECIPES: dict[str, type[Recipe]] = {"supervised": Supervised, "perceptron": PerceptronRule,
                                    "adversarial": Adversarial, "sam": SAM}

__all__ = ["RECIPES", "Adversarial", "OptimizerSet", "PerceptronRule", "Recipe", "RecipeContext",
           "SAM", "StepResult", "Supervised"]
