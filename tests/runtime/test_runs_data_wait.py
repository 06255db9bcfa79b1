"""steps.csv keeps each logged step's data wait (Step.data_wait), so a reopened run's plots
have its history; a steps.csv written before the column existed still reads, and a resumed
run's file keeps the header it has."""
from types import SimpleNamespace

from graph.project import load
from graph.settings import TrainingSettings
from runtime.events import Started, Step
from runtime.runs import RunLogger, read_csv

TEMPLATES = __import__("templates").FOLDER


def _started():
    return Started("cpu", "CPU", 1, 10, 10, 80, 20, 5, ["fc"], "supervised", values=["D(x)"])


def _log(folder, steps, resume=False):
    logger = RunLogger(folder, load(TEMPLATES / "mlp.json"),
                       SimpleNamespace(settings=TrainingSettings()), resume=resume,
                       tensorboard=False)
    logger.handle(_started())
    for ev in steps:
        logger.handle(ev)
    logger.close()


def test_steps_csv_holds_the_data_wait(tmp_path):
    _log(tmp_path / "r", [Step(1, 1, 0.5, 0.1, 100.0, {"D(x)": 0.7}, data_wait=0.25),
                          Step(2, 1, 0.4, 0.1, 100.0, {"D(x)": 0.6}, data_wait=0.5)])
    header = (tmp_path / "r" / "steps.csv").read_text().splitlines()[0]
    assert header == "step,epoch,loss,lr,samples_per_s,data_wait,D(x)"
    cols = read_csv(tmp_path / "r" / "steps.csv")
    assert cols["data_wait"] == [0.25, 0.5] and cols["D(x)"] == [0.7, 0.6]


def test_an_older_steps_csv_reads_and_resumes_without_the_column(tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "steps.csv").write_text("step,epoch,loss,lr,samples_per_s,D(x)\n"
                                      "1,1,0.5,0.1,100,0.7\n")
    _log(folder, [Step(2, 1, 0.4, 0.1, 100.0, {"D(x)": 0.6}, data_wait=0.5)], resume=True)
    cols = read_csv(folder / "steps.csv")
    assert "data_wait" not in cols and cols["step"] == [1, 2] and cols["D(x)"] == [0.7, 0.6]


def test_a_reopened_runs_plots_have_its_data_wait(tmp_path):
    from app.plotdata import LiveData
    _log(tmp_path / "r", [Step(1, 1, 0.5, 0.1, 100.0, {"D(x)": 0.7}, data_wait=0.25),
                          Step(2, 1, 0.4, 0.1, 100.0, {"D(x)": 0.6}, data_wait=0.5)])
    live = LiveData()
    live.resume_from(read_csv(tmp_path / "r" / "steps.csv"), {}, {})
    live.start(_started())
    assert list(live.data_wait.y[:live.data_wait.n]) == [0.25, 0.5]
    assert "data_wait" not in live.values  # not mistaken for a recipe's value
