"""Training recipes: how one step of training changes the weights (DESIGN.md, layout).

The Trainer (runtime/train.py) owns the loop: data order, events, pause and stop, logging,
checkpoints and devices. A recipe owns the step: what runs forward, what is minimised, which
weights move and how. One module each:

- supervised: backpropagation of the summed losses with one optimizer (or several
  optimizer records, each over its own sub-network and losses);
- perceptron: the perceptron learning rule, no gradients;
- adversarial: a GAN's two players, each record updating its own sub-network, with noise
  drawn afresh for each, and D(x), D(G(z)) and samples reported.
"""
from __future__ import annotations

from .base import OptimizerSet, Recipe, StepResult
from .adversarial import Adversarial
from .perceptron import PerceptronRule
from .supervised import Supervised

RECIPES: dict[str, type[Recipe]] = {"supervised": Supervised, "perceptron": PerceptronRule,
                                    "adversarial": Adversarial}

__all__ = ["RECIPES", "Adversarial", "OptimizerSet", "PerceptronRule", "Recipe", "StepResult",
           "Supervised"]
