"""A user's session in a real window, driven by the X server's own mouse and keyboard
(xdotool), for screenshots: build a small MLP with the mouse, train it with F5, open the CNN
template from the gallery, train it with F5.

  xvfb-run -a -s '-screen 0 1600x1000x24' .venv/bin/python tools/xvfb_session.py OUT_DIR
  ... tools/xvfb_session.py OUT_DIR --recurrent   # the LSTM training, the char model writing
  ... tools/xvfb_session.py OUT_DIR --seq2seq     # dates translated, the attention heatmap
  ... tools/xvfb_session.py OUT_DIR --gan         # the GAN's live samples while it trains
  ... tools/xvfb_session.py OUT_DIR --detection   # Fast R-CNN trained, its boxes tried
  ... tools/xvfb_session.py OUT_DIR --masks       # Mask R-CNN trained, its masks tried
  ... tools/xvfb_session.py OUT_DIR --large       # Mask R-CNN opened from the gallery

The script runs inside the app's process only to know where things are on the screen (the
palette rows, the ports, the fields) and to wait; every click, drag and key press is a real
X event from xdotool, so shortcuts, focus and drag-and-drop go the way they go for a user.
Needs: apt-get install xvfb libxcb-icccm4 libxcb-keysyms1 imagemagick xdotool.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LAYERLOOM_HOME", tempfile.mkdtemp())

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QComboBox, QLineEdit, QSpinBox  # noqa: E402

OUT = Path(sys.argv[1] if len(sys.argv) > 1 else "shots")
app = win = None  # made in start(): the training process (spawn) imports this file again
log = []


def start() -> None:
    global app, win
    OUT.mkdir(parents=True, exist_ok=True)
    app = QApplication([])
    from app.mainwindow import MainWindow
    win = MainWindow()
    win.resize(1560, 960)
    win.move(0, 0)
    win.show()


def pump(seconds: float) -> None:
    end = time.time() + seconds
    while time.time() < end:
        app.processEvents()
        time.sleep(0.01)


def xdo(*args) -> None:
    p = subprocess.Popen(["xdotool", *map(str, args)])
    while p.poll() is None:
        app.processEvents()
        time.sleep(0.005)
    pump(0.15)


def glob(widget, local: QPoint) -> tuple[int, int]:
    g = widget.mapToGlobal(local)
    return g.x(), g.y()


def click(xy, button=1, repeat=1) -> None:
    xdo("mousemove", *xy)
    xdo("click", "--repeat", repeat, button)


def drag(a, b, steps=12) -> None:
    """One xdotool command for the whole gesture: a drag-and-drop runs Qt's nested drag loop
    inside our event pumping, which returns only once the button is up."""
    chain = ["mousemove", *a, "mousedown", 1, "sleep", 0.1]
    for i in range(1, steps + 1):
        chain += ["mousemove", int(a[0] + (b[0] - a[0]) * i / steps),
                  int(a[1] + (b[1] - a[1]) * i / steps), "sleep", 0.03]
    chain += ["sleep", 0.2, "mouseup", 1]
    xdo(*chain)
    pump(0.3)


def key(*keys) -> None:
    xdo("key", *keys)


def type_text(text: str) -> None:
    xdo("type", "--delay", 30, text)


def shot(name: str) -> None:
    pump(0.5)
    path = OUT / f"{name}.png"
    p = subprocess.Popen(["import", "-window", "root", str(path)])
    while p.poll() is None:
        app.processEvents()
        time.sleep(0.01)
    log.append(f"screenshot {path}: {len(win.doc.graph)} nodes, undo '{win.a_undo.text()}', "
               f"training {win.trainer.state}, active {type(QApplication.activeWindow()).__name__}")


def canvas_point(x: int, y: int) -> tuple[int, int]:
    return glob(win.view.viewport(), QPoint(x, y))


def port_point(node: str, port: str, is_input: bool) -> tuple[int, int]:
    item = win.scene.nodes[node].port(port, is_input)
    return glob(win.view.viewport(), win.view.mapFromScene(item.scenePos()))


def node_header(node: str) -> tuple[int, int]:
    item = win.scene.nodes[node]
    return glob(win.view.viewport(), win.view.mapFromScene(item.mapToScene(QPointF(60, 10))))


def add_from_palette(type_title: str, where: tuple[int, int]) -> str:
    """Type into the palette's filter, drag the first match onto the canvas."""
    flt = win.palette.findChild(QLineEdit)
    click(glob(flt, flt.rect().center()), repeat=3)
    key("ctrl+a")
    type_text(type_title)
    pump(0.3)
    tree = win.palette.tree
    item = next(tree.topLevelItem(i).child(j) for i in range(tree.topLevelItemCount())
                for j in range(tree.topLevelItem(i).childCount())
                if not tree.topLevelItem(i).child(j).isHidden()
                and tree.topLevelItem(i).child(j).text(0) == type_title)
    before = set(win.doc.graph.nodes())
    drag(glob(tree.viewport(), tree.visualItemRect(item).center()), canvas_point(*where))
    new = set(win.doc.graph.nodes()) - before
    assert len(new) == 1, (type_title, new)
    return new.pop()


def set_field(node: str, field: str, value: str) -> None:
    click(node_header(node))
    pump(0.3)
    w = win.inspector._fields[field]
    target = w.lineEdit() if isinstance(w, (QSpinBox, QComboBox)) and w.lineEdit() else w
    click(glob(target, target.rect().center()), repeat=2)
    key("ctrl+a")
    type_text(value)
    key("Return")


def scroll_into_view(widget, area=None) -> None:
    """Wheel down over the training panel until `widget` is on screen, as a user scrolls."""
    from PySide6.QtWidgets import QScrollArea
    area = area or win.training.findChild(QScrollArea)
    for _ in range(40):
        top = widget.mapTo(area.viewport(), QPoint(0, 0)).y()
        if 0 <= top and top + widget.height() <= area.viewport().height():
            return
        xdo("mousemove", *glob(area.viewport(), QPoint(12, area.viewport().height() // 2)))
        xdo("click", 5 if top > 0 else 4)
    raise AssertionError("could not scroll to the field")


def later(delay_ms: int, action) -> None:
    """Run `action` from the event loop, also while a modal dialog's own loop runs (a key
    that opens one returns only when it closes)."""
    from PySide6.QtCore import QTimer
    QTimer.singleShot(delay_ms, action)


def run_script(main_fn, hang_after: int = 300) -> None:
    """The __main__ of a screenshot script: start the window, run `main_fn`, and on a failure
    keep what was seen in OUT/session.log (exit 1); a hang says where after `hang_after` s."""
    import faulthandler
    faulthandler.dump_traceback_later(hang_after, exit=True)
    start()
    try:
        main_fn()
    except Exception as e:
        import traceback
        log.append("FAILED: " + "".join(traceback.format_exception(e)))
        (OUT / "session.log").write_text("\n".join(log) + "\n")
        raise SystemExit(1)


def xdo_async(*args) -> None:
    subprocess.Popen(["xdotool", *map(str, args)])


def open_from_gallery(title: str, question_shot: str | None, gallery_shot: str | None) -> None:
    """File > New from Template (Ctrl+Shift+N): answer 'Discard' if asked about unsaved
    changes, double-click the template `title` in the gallery: X mouse clicks made while
    the dialogs' own modal loops run."""
    seen = []

    def answer_dialogs():
        modal = QApplication.activeModalWidget()
        from app.gallery import TemplateGallery
        if modal is not None and modal.windowTitle() == "Unsaved changes" and "ask" not in seen:
            seen.append("ask")
            btn = next(b for b in modal.buttons() if "Discard" in b.text().replace("&", ""))
            if question_shot:
                subprocess.run(["import", "-window", "root", str(OUT / f"{question_shot}.png")])
            xdo_async("mousemove", *glob(btn, btn.rect().center()), "click", 1)
        elif isinstance(modal, TemplateGallery) and "gallery" not in seen:
            row = next(i for i in range(modal.list.count())
                       if modal.list.item(i).text() == title)
            rect = modal.list.visualItemRect(modal.list.item(row))
            view = modal.list.viewport().rect()
            if not view.contains(rect):  # (partly) below the fold: the wheel, as a user does
                xdo_async("mousemove", *glob(modal.list.viewport(), view.center()), "click", 5)
                later(400, answer_dialogs)
                return
            seen.append("gallery")
            if gallery_shot:
                subprocess.run(["import", "-window", "root", str(OUT / f"{gallery_shot}.png")])
            xdo_async("mousemove", *glob(modal.list.viewport(), rect.center()), "click",
                      "--repeat", 2, "--delay", 80, 1)
        if "gallery" not in seen:
            later(300, answer_dialogs)
    later(800, answer_dialogs)
    key("ctrl+shift+n")  # returns once the dialogs are closed
    pump(1.5)
    log.append(f"gallery: {seen}; now {win.doc.title}")


def main_recurrent() -> None:
    """The LSTM on the adding problem (the gradient per time step while it trains), then
    the character LSTM trained and writing text in the Try panel."""
    pump(2.0)
    activate()
    open_from_gallery("LSTM", None, "r01-gallery")
    activate()
    key("F5")
    pump(3.5)
    shot("r02-lstm-training")
    for _ in range(60):
        if win.trainer.state == "idle":
            break
        pump(1.0)
    log.append(f"lstm run: {win.trainer.last_event.kind if win.trainer.last_event else None}, "
               f"status '{win.training.status.text()}', bar {win.status.text()}")
    shot("r03-lstm-done")
    open_from_gallery("Character LSTM", None, None)
    activate()
    key("F5")
    for _ in range(150):
        if win.trainer.state == "idle" and win.trainer.last_event is not None:
            break
        pump(1.0)
    log.append(f"char run: {win.status.text()}")
    activate()
    key("ctrl+t")  # Train > Try the Model
    for _ in range(60):
        if win.trypanel.tryout is not None and win.trypanel._job is None:
            break
        pump(0.5)
    panel = win.trypanel
    prompt = panel.prompt
    click(glob(prompt, prompt.rect().center()), repeat=3)
    key("ctrl+a")
    type_text("The function ")
    temp = panel.temperature
    click(glob(temp.lineEdit(), temp.lineEdit().rect().center()), repeat=2)
    key("ctrl+a")
    type_text("0.7")
    key("Tab")
    btn = panel.generate_btn
    click(glob(btn, btn.rect().center()))
    for _ in range(60):
        if panel._job is None:
            break
        pump(0.5)
    pump(1.0)
    log.append(f"generated: {panel.generated.toPlainText()!r}")
    shot("r04-char-generates")
    (OUT / "session.log").write_text("\n".join(log) + "\n")
    win.doc.undo.setClean()
    win.close()


def main_seq2seq() -> None:
    """The attention seq2seq template trained with F5, then a typed date translated in the Try
    panel with its attention heatmap; the Transformer the same, one head picked."""
    pump(2.0)
    for title, tag, date, head in (("Encoder-decoder with attention", "s", "the 29th of August 1958",
                                    None),
                                   ("Transformer", "t", "Tuesday, March 30, 1968", 2)):
        activate()
        open_from_gallery(title, None, None)
        activate()
        key("F5")
        pump(4.0)
        shot(f"{tag}01-training")
        for _ in range(200):
            if win.trainer.state == "idle" and win.trainer.last_event is not None:
                break
            pump(1.0)
        log.append(f"{title} run: {win.status.text()} / {win.training.status.text()}")
        activate()
        key("ctrl+t")
        for _ in range(60):
            if win.trypanel.tryout is not None and win.trypanel._job is None:
                break
            pump(0.5)
        pump(1.0)
        panel = win.trypanel
        src = panel.source
        click(glob(src, src.rect().center()), repeat=3)
        key("ctrl+a")
        type_text(date)
        key("Return")
        for _ in range(40):
            if panel._job is None:
                break
            pump(0.25)
        pump(1.0)
        if head is not None:
            combo = panel.attn_head
            click(glob(combo, combo.rect().center()))
            pump(0.5)
            for _ in range(head + 1):  # 'mean', then heads 1, 2, …
                key("Down")
            key("Return")
            pump(1.0)
        tr = panel._translation
        log.append(f"{title}: {tr.source!r} -> {tr.output!r}; attention "
                   f"{ {k: v.shape for k, v in tr.attention.items()} }; head "
                   f"{panel.attn_head.currentText()!r}; title "
                   f"{panel.heatmap.plotItem.titleLabel.text!r}")
        shot(f"{tag}02-translated")
    (OUT / "session.log").write_text("\n".join(log) + "\n")
    win.doc.undo.setClean()
    win.close()


def main_gan() -> None:
    """The GAN templates trained with F5: the live samples beside the plots while they train
    and when they have finished (the ring's scatter, the digits' grid); a generator node
    selected, its sub-network in the inspector and tagged on the canvas."""
    pump(2.0)
    for title, tag in (("GAN (ring of 8 Gaussians)", "g"), ("GAN (8 x 8 digits)", "d")):
        activate()
        open_from_gallery(title, None, None)
        activate()
        click(node_header("g1"))
        pump(0.5)
        if tag == "g":  # the optimizer records in the training panel, scrolled into view
            from PySide6.QtWidgets import QScrollArea
            win.docks["training"].raise_()
            pump(0.5)
            area = win.training.findChild(QScrollArea)
            area.ensureWidgetVisible(win.training.records)
            area.horizontalScrollBar().setValue(0)  # where a user's view is
            pump(0.5)
            shot("g00-records")
        key("F5")
        for i, wait in enumerate((3.0, 4.0)):
            pump(wait)
            shot(f"{tag}0{i + 1}-training")
            log.append(f"{title} at shot {i + 1}: {win.samples.label.text()}")
        for _ in range(200):
            if win.trainer.state == "idle" and win.trainer.last_event is not None:
                break
            pump(1.0)
        pump(1.0)
        log.append(f"{title} run: {win.status.text()} / {win.samples.label.text()}")
        shot(f"{tag}03-trained")
        activate()
        key("ctrl+t")  # the Try panel: z as noise, the sample as a point (or a digit)
        for _ in range(60):
            if win.trypanel.tryout is not None and win.trypanel._job is None:
                break
            pump(0.5)
        pump(1.0)
        log.append(f"{title} tried: {win.trypanel.text.toPlainText()!r}")
        shot(f"{tag}04-tried")
    (OUT / "session.log").write_text("\n".join(log) + "\n")
    win.doc.undo.setClean()
    win.close()


def main_detection(template: str = "fast_rcnn", prefix: str = "f") -> None:
    """The Fast R-CNN template (or `template`: mask_rcnn) trained with F5 (mAP per epoch in
    the plots and the status), then Ctrl+T: the detections (and instance masks) over
    validation images in the Try panel, the proposals ticked on (Fast R-CNN's)."""
    pump(2.0)
    activate()
    win.open_path(ROOT / "templates" / f"{template}.json", ask=False)  # as File > Open does
    activate()
    shot(f"{prefix}01-opened")
    key("F5")
    pump(20.0)
    shot(f"{prefix}02-training")
    for _ in range(400):
        if win.trainer.state == "idle" and win.trainer.last_event is not None:
            break
        pump(1.0)
    pump(1.0)
    log.append(f"{template} run: {win.status.text()}")
    log.append(f"final metrics in the panel: {win.training.result.text()}")
    win._show_dock("plots")
    pump(1.0)
    for name, plot in win.plots._plots().items():
        if plot.isVisible():
            r = plot.sceneBoundingRect()
            log.append(f"plot {name}: right edge {r.right():.0f} of {win.plots.view.width()}")
    log.append(f"metric legend: {win.plots.titles()['metric']}")
    shot(f"{prefix}02b-plots")
    key("ctrl+t")
    for _ in range(120):
        if win.trypanel._job is None and win.trypanel.detections is not None:
            break
        pump(0.5)
    pump(1.0)
    shot(f"{prefix}03-tried")
    log.append(f"tried: {win.trypanel.text.toPlainText()}")
    if template == "fast_rcnn":
        click(glob(win.trypanel.proposals, win.trypanel.proposals.rect().center()))
        pump(1.0)
    spin = win.trypanel.index
    click(glob(spin, spin.rect().center()), repeat=2)
    key("ctrl+a")
    type_text("7")
    key("Return")
    pump(1.5)
    shot(f"{prefix}04-sample7")
    log.append(f"sample 7: {win.trypanel.text.toPlainText()}")
    panel = win.trypanel
    if panel.anchors.isVisible():  # Faster / Mask R-CNN: a cell's anchors, by a click
        click(glob(spin, spin.rect().center()), repeat=2)  # back to the uncluttered sample 0
        key("ctrl+a")
        type_text("0")
        key("Return")
        pump(1.5)
        click(glob(panel.anchors, panel.anchors.rect().center()))
        pump(1.5)
        shot(f"{prefix}05-anchors")
        from app.detection_view import SCALE
        grid = panel.detections.anchors
        x, y = grid.centre(grid.shape[0] // 4, grid.shape[1] * 3 // 4)
        pm = panel.image.pixmap()
        dx = (panel.image.width() - pm.width()) // 2
        dy = (panel.image.height() - pm.height()) // 2
        click(glob(panel.image, QPoint(dx + int(x * SCALE) + 2, dy + int(y * SCALE) + 2)))
        pump(1.5)
        shot(f"{prefix}06-anchors-picked")
        log.append(f"anchors: {panel.text.toPlainText()}")
    (OUT / "session.log").write_text("\n".join(log) + "\n")
    win.doc.undo.setClean()
    win.close()


def main_large() -> None:
    """Mask R-CNN opened from the gallery (File > New from Template), as a user first sees
    a large graph; then Ctrl+0 for the whole of it."""
    pump(2.0)
    activate()
    open_from_gallery("Mask R-CNN (shapes)", None, "l01-gallery")
    activate()
    pump(1.0)
    log.append(f"opened {win.doc.title}: zoom {win.view.zoom:.2f}, "
               f"status '{win.zoom_label.text()}', canvas {win.view.width()} x "
               f"{win.view.height()} in {win.width()} x {win.height()}")
    shot("l02-opened")
    key("ctrl+0")
    pump(1.0)
    log.append(f"fit: zoom {win.view.zoom:.2f}, status '{win.zoom_label.text()}'")
    shot("l03-fit")
    activate()
    win.view.fit_to_view(floor=win.view.FIRST_VIEW)  # back to the first view
    pump(0.5)
    click(node_header("backbone"))  # a node selected: the inspector, the help
    pump(1.0)
    shot("l04-selected")
    (OUT / "session.log").write_text("\n".join(log) + "\n")
    win.doc.undo.setClean()
    win.close()


def wire(src, sp, dst, dp) -> None:
    drag(port_point(src, sp, False), port_point(dst, dp, True))


def activate() -> None:
    win.activateWindow()
    win.raise_()
    pump(0.5)


def main() -> None:
    pump(2.0)
    activate()
    shot("01-empty")
    # Build: Input -> Linear -> ReLU -> Linear -> Softmax -> Output, and the loss.
    x = add_from_palette("Input", (90, 120))
    fc1 = add_from_palette("Linear", (300, 120))
    act = add_from_palette("ReLU", (510, 120))
    fc2 = add_from_palette("Linear", (720, 120))
    sm = add_from_palette("Softmax", (300, 320))
    out = add_from_palette("Output", (520, 320))
    tgt = add_from_palette("Target", (300, 470))
    loss = add_from_palette("Categorical cross-entropy", (560, 470))
    for a in ((x, "out", fc1, "x"), (fc1, "y", act, "x"), (act, "y", fc2, "x"),
              (fc2, "y", sm, "x"), (sm, "y", out, "x"), (sm, "y", loss, "pred"),
              (tgt, "out", loss, "target")):
        wire(*a)
    set_field(fc1, "out_features", "32")
    set_field(fc2, "out_features", "2")
    log.append(f"graph: {sorted(win.doc.graph.nodes())}, {len(list(win.doc.graph.edges()))} wires,"
               f" problems: {[str(e) for e in win.doc.analysis.errors]}")
    shot("02-built")
    # Data: the two spirals, chosen in the Training panel's combo box.
    win._show_dock("training")
    pump(0.3)
    combo = win.training.dataset
    click(glob(combo, combo.rect().center()))
    pump(0.5)
    view = combo.view()
    idx = combo.model().index(combo.findData("spirals"), 0)
    click(glob(view.viewport(), view.visualRect(idx).center()))
    pump(0.3)
    epochs = win.training.fields["epochs"]
    scroll_into_view(epochs)  # the wheel over the form scrolls it: it changes no field
    click(glob(epochs, epochs.rect().center()), repeat=2)
    key("ctrl+a")
    type_text("300")
    key("Return")
    log.append(f"data: {win.doc.project.data.dataset}, bind {win.doc.project.data.bind}, "
               f"epochs {win.doc.project.training.epochs}")
    click(canvas_point(900, 600))  # back on the canvas, as a user would be
    activate()
    key("F5")
    pump(4.0)
    shot("03-mlp-training")
    pump(6.0)
    log.append(f"mlp run: {win.trainer.state}, last event {getattr(win.trainer.last_event, 'kind', None)},"
               f" status '{win.training.status.text()}'")
    shot("04-mlp-later")
    # Another template, from the gallery, then F5 again.
    key("shift+F5")
    pump(2.0)
    open_from_gallery("CNN", "05-unsaved-question", "06-gallery")

    activate()
    shot("07-cnn-opened")
    key("F5")
    pump(8.0)
    shot("08-cnn-training")
    pump(6.0)
    log.append(f"cnn run: {win.trainer.state}, status '{win.training.status.text()}'")
    shot("09-cnn-later")
    (OUT / "session.log").write_text("\n".join(log) + "\n")
    win.doc.undo.setClean()
    win.trainer.stop()
    pump(1.0)
    win.close()


if __name__ == "__main__":
    import faulthandler
    faulthandler.dump_traceback_later(600, exit=True)  # a hang says where
    start()
    try:
        if "--seq2seq" in sys.argv:
            main_seq2seq()
        elif "--gan" in sys.argv:
            main_gan()
        elif "--detection" in sys.argv:
            main_detection()
        elif "--masks" in sys.argv:
            main_detection("mask_rcnn", "m")
        elif "--large" in sys.argv:
            main_large()
        elif "--recurrent" in sys.argv:
            main_recurrent()
        else:
            main()
    except Exception as e:  # keep what was seen
        import traceback
        log.append("FAILED: " + "".join(traceback.format_exception(e)))
        (OUT / "session.log").write_text("\n".join(log) + "\n")
        raise SystemExit(1)
