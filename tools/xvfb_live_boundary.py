"""Screenshots of the live decision boundary (docs/screenshot-live-boundary*.png): the mlp
template training in the real window, paused (Train > Pause, as a user would) once the
boundary frames of the given steps have arrived, so each grab is mid-run; then the run's end.

Run:  xvfb-run -a -s '-screen 0 1600x1000x24' .venv/bin/python tools/xvfb_live_boundary.py OUT 2 200
Writes OUT/window_K.png, OUT/boundary_K.png (the dock) for each step, and *_end.png."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("LAYERLOOM_HOME", "/tmp/live_shot_home")

from PySide6.QtWidgets import QApplication  # noqa: E402

from app.mainwindow import MainWindow  # noqa: E402


def main():
    OUT = sys.argv[1] if len(sys.argv) > 1 else "/tmp/live_shots"
    os.makedirs(OUT, exist_ok=True)
    app = QApplication(sys.argv[:1])
    MainWindow.ask_save_changes = lambda self: "discard"
    w = MainWindow()
    w.resize(1600, 1000)
    w.show()
    w.trainer.ensure_worker()


    def spin(cond, timeout=120):
        end = time.time() + timeout
        while not cond():
            if time.time() > end:
                raise SystemExit("timed out")
            app.processEvents()
            time.sleep(0.01)


    spin(lambda: bool(w.trainer.devices), 120)
    w.open_path(os.path.join(sys.path[0], "templates", "mlp.json"), ask=False)
    spin(lambda: True)
    for _ in range(50):
        app.processEvents()
        time.sleep(0.02)
    w.start_training()
    targets = [int(a) for a in (sys.argv[2:] or ["60", "300"])]
    shots = []
    for k, target in enumerate(targets):
        spin(lambda: w.live.boundary is not None and w.live.boundary.step >= target, 180)
        w.toggle_pause()
        spin(lambda: w.trainer.state == "paused", 30)
        for _ in range(60):  # the last events drawn, the timer's repaint
            app.processEvents()
            time.sleep(0.02)
        w._refresh_live()
        app.processEvents()
        f = w.live_boundary.frame
        print(f"grab {k}: live step {w.live.step}, frame step {f.step if f else None}", flush=True)
        w.grab().save(f"{OUT}/window_{k}.png")
        w.docks["boundary"].grab().save(f"{OUT}/boundary_{k}.png")
        subprocess.run(["import", "-window", "root", f"{OUT}/root_{k}.png"], check=False)
        w.toggle_pause()
        spin(lambda: w.trainer.state == "running", 30)
    spin(lambda: w.trainer.state == "idle", 300)
    for _ in range(40):
        app.processEvents()
        time.sleep(0.02)
    w._refresh_live()
    app.processEvents()
    f = w.live_boundary.frame
    print(f"final: frame step {f.step}, final {f.final}", flush=True)
    w.grab().save(f"{OUT}/window_end.png")
    w.docks["boundary"].grab().save(f"{OUT}/boundary_end.png")
    w.doc.undo.setClean()
    w.close()
    w.trainer.close()


if __name__ == '__main__':
    main()
