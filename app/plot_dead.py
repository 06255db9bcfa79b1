"""The live plots' row of dead units (issue 28, "Inside the network"): each ReLU-like layer's
share of units that fire for no validation sample, over the steps, from the run's Activations
events (runtime/watch_activations.py); its title names the dead units of the latest. The row
joins the live plots (app/plots.py) when a run first sends them, and leaves at the next run."""
from __future__ import annotations

import pyqtgraph as pg

from runtime.watch_events import dead_words

from .plot_parts import PALETTE, legend_title, make_curve, set_points
from .plotdata import LiveData

ROW = 2  # below the loss / metrics row and the gradients row


class DeadUnitsPlot:
    def __init__(self, view: pg.GraphicsLayoutWidget, link: pg.PlotItem):
        self.view = view
        self.plot = pg.PlotItem()
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "dead share")
        self.plot.setXLink(link)  # the steps as the plots above show them
        self.plot.setYRange(0, 1.02, padding=0)  # a share
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hide()
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.shown = False
        self._version = -1
        self.title = ""

    def clear(self) -> None:
        for c in self.curves.values():
            self.plot.removeItem(c)
        self.curves = {}
        if self.shown:
            self.view.ci.removeItem(self.plot)
            self.plot.hide()
            self.shown = False
        self._version = -1
        self.title = ""
        self.plot.setTitle("")

    def refresh(self, d: LiveData) -> bool:
        ev = d.activations
        if ev is None or d.activations_version == self._version:
            return False
        self._version = d.activations_version
        if not self.shown:
            self.view.ci.addItem(self.plot, row=ROW, col=0, colspan=3)
            self.plot.show()
            self.shown = True
        for i, (layer, series) in enumerate(d.dead.items()):
            if layer not in self.curves:
                self.curves[layer] = make_curve(self.plot, PALETTE[i % len(PALETTE)],
                                                symbol="o", name=layer)
            set_points(self.curves[layer], series)
        self.title = self.words(ev)
        entries = []
        for layer, c in self.curves.items():
            st = ev.layers.get(layer)
            words = (dead_words(layer, st) if st and st["dead"] else
                     f"{layer} 0/{st['units']}" if st else layer)
            entries.append((words, c._ll_legend[1], c._ll_legend[2]))
        self.plot.setTitle(legend_title(
            f"dead ReLU units at step {ev.step:,} (units that fire for none of "
            f"{ev.samples} validation samples; share per layer)", entries))
        return True

    @staticmethod
    def words(ev) -> str:
        """The latest event's dead units, layer by layer ('' when every unit fires)."""
        dead = [dead_words(n, s) for n, s in ev.layers.items() if s["dead"]]
        return (f"step {ev.step:,}: " + "; ".join(dead)) if dead else ""
