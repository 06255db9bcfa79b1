"""The HTML page of a GAN's evaluation holds the run's samples per epoch (issue 28)."""
from __future__ import annotations

import re

from runtime.evaluate import Evaluation
from runtime.evaluate.html import EPOCH_GRIDS, page


def _ev(shape, sample, n_epochs=10, with_samples=range(1, 11)):
    epochs = [{"epoch": e, "step": 10 * e, "judged": {"digits": e % 10, "quality": e / 10},
               "generated": [sample] * 4 if e in with_samples else None}
              for e in range(1, n_epochs + 1)]
    f = {"samples": 4, "shape": shape, "judged": {"digits": 9}, "generated": [sample] * 4,
         "epochs": epochs}
    return Evaluation("generator", "val", "w", "gan", f)


def test_every_epoch_s_judge_and_a_few_epochs_samples_are_in_the_page():
    html = page(_ev([2, 2], [[0.0, 1.0], [1.0, 0.0]]))
    assert "Samples per epoch of the run" in html
    rows = re.findall(r"<tr><td>(\d+)</td><td>(\d+)</td>", html)
    assert [int(e) for e, _ in rows] == list(range(1, 11))  # one row per epoch
    drawn = [int(x) for x in re.findall(r'alt="epoch (\d+)"', html)]
    assert len(drawn) == EPOCH_GRIDS and drawn[0] == 1 and drawn[-1] == 10
    assert drawn == sorted(set(drawn))


def test_points_are_drawn_as_scatters_and_epochs_without_samples_are_skipped():
    html = page(_ev([2], [0.5, -0.5], with_samples={3, 7}))
    assert [int(x) for x in re.findall(r'alt="epoch (\d+)"', html)] == [3, 7]


def test_a_generator_without_epochs_has_no_such_section():
    ev = _ev([2], [0.5, -0.5])
    del ev.figures["epochs"]
    assert "Samples per epoch" not in page(ev)
