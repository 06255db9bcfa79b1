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
        self.view, self.link = view, link  # `link`: the plot whose steps it follows
        self.plot = pg.PlotItem()
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "dead share")
        self.plot.setYRange(0, 1.02, padding=0)  # a share
        self.plot.getAxis("left").setTicks([[(0, "0"), (0.5, "0.5"), (1, "1")]])
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hide()
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.shown = False
        self._version = -1
        self._x = None
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
        if self.shown:  # the same steps as the plots above (an x link would align pixels)
            x = tuple(self.link.vb.viewRange()[0])
            if x != self._x:
                self._x = x
                self.plot.setXRange(*x, padding=0)
        if ev is None or d.activations_version == self._version:
            return False
        self._version = d.activations_version
        if not self.shown:
            self.view.ci.addItem(self.plot, row=ROW, col=0, colspan=3)
            layout = self.view.ci.layout
            for row, stretch in ((0, 3), (1, 3), (ROW, 2)):  # a lower row than the others
                layout.setRowStretchFactor(row, stretch)
            self.plot.show()
            self.shown = True
            self._x = None
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
            f"dead ReLU units at step {ev.step:,} (firing for none of {ev.samples} "
            "validation samples)", entries))
        return True

    @staticmethod
    def words(ev) -> str:
        """The latest event's dead units, layer by layer ('' when every unit fires)."""
        dead = [dead_words(n, s) for n, s in ev.layers.items() if s["dead"]]
        return (f"step {ev.step:,}: " + "; ".join(dead)) if dead else ""
