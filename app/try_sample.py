"""The Try panel's sample mode (ARCHITECTURE.md, "A Try-panel mode"): one validation sample's
inputs, targets and the model's outputs, each shown as what it is (runtime.tryout.Sample.kinds:
text, class, class scores, an image, a sequence plotted, a generator's noise and its point on
the ring), and the plots that go with them. Functions of a Tryout and widgets, no state."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap

SHOWN = 16  # values of a vector written out at most


def visible(text: str) -> str:
    """Text with its newlines and tabs made visible (⏎, →), for one-line views."""
    return text.replace("\n", "⏎").replace("\t", "→")


def _values(v, fmt: str) -> str:
    vals = v.reshape(-1).tolist()
    return ", ".join(format(x, fmt) for x in vals[:SHOWN]) + (" …" if len(vals) > SHOWN else "")


def top(scores, class_name) -> str:
    """The three likeliest classes with their probabilities (raw scores are softmaxed)."""
    import torch
    p = scores.double()
    if p.min() < 0 or abs(float(p.sum()) - 1) > 1e-3:  # raw scores: as probabilities
        p = torch.softmax(p, -1)
    best = torch.topk(p, min(3, p.numel()))
    return ", ".join(f"{class_name(int(i))} {float(v):.1%}"
                     for v, i in zip(best.values, best.indices))


def describe(t, s, decode, class_name) -> tuple[list[str], object, list, object]:
    """The lines that say sample `s` of Tryout `t`, and what to draw beside them: (lines,
    image or None, [(label, T × F sequence)], a generated 2-D point or None)."""
    lines, image, series, point = [], None, [], None
    generator = t.generator
    roles = ((("noise", s.inputs), ("generated", s.outputs)) if generator else
             (("input", s.inputs), ("target", s.targets), ("prediction", s.outputs)))
    for role, values in roles:
        for node, v in values.items():
            k = s.kinds[node]
            head = f"{role} '{node}'"
            if k == "noise":
                lines.append(f"{head}: {t.noise_text(node)}, the same each time "
                             f"(sample {s.index} of {len(t)}):\n" + _values(v, ".3f"))
            elif k == "point":
                point = v
                lines.append(f"{head}: the point ({float(v[0]):.3f}, {float(v[1]):.3f}), "
                             "red on the plot")
            elif k == "text":
                lines.append(f"{head}:\n{visible(decode(v))}")
            elif k == "text scores":
                lines.append(f"{head} (the likeliest next character at each step):\n"
                             f"{visible(decode(v.argmax(-1)))}")
            elif k == "image":
                image = v
                lines.append(f"{head}: image {' × '.join(map(str, v.shape))}")
            elif k == "sequence":
                series.append((head, v))
                lines.append(f"{head}: sequence of {v.shape[0]} steps × {v.shape[1]} "
                             "features (plotted)")
            elif k == "scores":
                lines.append(f"{head}: {top(v, class_name)}")
            elif k == "class":
                lines.append(f"{head}: {class_name(int(v.reshape(-1)[0]))}" if v.numel() == 1
                             else f"{head}: {v.tolist()}")
            else:
                lines.append(f"{head}: " + _values(v, ".4g"))
    if generator:
        from .samples_view import describe as judged_text
        judged = t.judged()
        lines.append(f"The {len(t)} samples of the fixed noise"
                     + (f": {judged_text(judged)}" if judged else "")
                     + (" (blue on the plot; the real data grey)" if point is not None
                        else "") + ". The Samples view shows them while it trains.")
    return lines, image, series, point


def pixmap(v, side: int = 160) -> QPixmap:
    """An image C × H × W (values 0 to 1, C 1 or 3) scaled to fit `side` pixels."""
    a = v.detach().float().clamp(0, 1).numpy()
    a = (a * 255).astype(np.uint8)
    if a.shape[0] == 1:
        img = QImage(np.ascontiguousarray(a[0]).data, a.shape[2], a.shape[1], a.shape[2],
                     QImage.Format_Grayscale8).copy()
    else:
        rgb = np.ascontiguousarray(a.transpose(1, 2, 0))
        img = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.shape[1] * 3,
                     QImage.Format_RGB888).copy()
    return QPixmap.fromImage(img).scaled(side, side, Qt.KeepAspectRatio, Qt.FastTransformation)


def draw_points(plot, t, point) -> None:
    """A generator of 2-D points: the chosen sample (red) among the fixed noise's samples
    (blue) and the real data (grey), on equal axes."""
    plot.clear()
    plot.setAspectLocked(True)
    real = t.real
    if real is not None and real.dim() == 2 and real.shape[1] == 2:
        r = real.numpy()
        plot.addItem(pg.ScatterPlotItem(r[:, 0], r[:, 1], size=4, pen=None,
                                        brush=pg.mkBrush(150, 150, 150, 110)))
    fake = t.generated().numpy()
    plot.addItem(pg.ScatterPlotItem(fake[:, 0], fake[:, 1], size=5, pen=None,
                                    brush=pg.mkBrush(31, 119, 180, 170)))
    p = point.detach().float().numpy()
    plot.addItem(pg.ScatterPlotItem([float(p[0])], [float(p[1])], size=12,
                                    pen=pg.mkPen("k"), brush=pg.mkBrush(214, 39, 40)))
    plot.setLabel("bottom", "x₁")
    plot.setLabel("left", "x₂")
    plot.show()


def draw_series(plot, series) -> None:
    """Sequences T × F against the time step, four features each at most."""
    plot.clear()
    if not series:
        plot.hide()
        return
    plot.setAspectLocked(False)
    plot.setLabel("left", "")
    plot.addLegend(offset=(-4, 4))
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e"]
    k = 0
    for head, v in series:
        a = v.detach().float().numpy()
        for j in range(min(a.shape[1], 4)):
            plot.plot(np.arange(len(a)), a[:, j], pen=pg.mkPen(colors[k % 4], width=2),
                      name=f"{head}, feature {j}")
            k += 1
    plot.setLabel("bottom", "time step t")
    plot.show()
