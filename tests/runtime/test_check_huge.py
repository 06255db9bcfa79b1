"""`layerloom check` on files with huge sizes (issue 9): a report, no traceback, no allocation,
well under 5 s after imports. The children run with their address space capped, so that a
regression fails at once instead of pushing this shared machine into its OOM killer."""
import json
import resource
import subprocess
import sys
import textwrap
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
CAP = 4 * 2**30


def run_capped(args, timeout=300):
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))
    return subprocess.run([sys.executable, *args], cwd=ROOT, preexec_fn=cap, text=True,
                          capture_output=True, timeout=timeout,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


def template(name):
    return json.loads((TEMPLATES / f"{name}.json").read_text())


def huge_files(folder: Path) -> dict[str, Path]:
    files = {}

    def write(name, d):
        files[name] = folder / f"{name}.json"
        files[name].write_text(json.dumps(d))

    d = template("mlp")
    d["nodes"][1]["params"]["out_features"] = 2**31 - 1
    write("linear_2147483647", d)
    for name, shape in (("input_1e9x1e9", [10**9, 10**9]), ("input_1e12", [10**12]),
                        ("input_1e30", [10**30]), ("input_many", [10**9] * 100_000)):
        d = template("mlp")
        d["nodes"][0]["params"]["shape"] = shape
        write(name, d)
    d = template("cnn")
    conv = next(n for n in d["nodes"] if n["type"] == "Conv2d")
    conv["params"]["out_channels"] = 2**31 - 1
    write("conv_2147483647", d)
    return files


CHECK_ALL = """
    import contextlib, io, json, runpy, sys, time
    import torch, app.cli, graph.analysis, runtime.summary  # imports are not timed
    out = {}
    for f in sys.argv[1:]:
        buf, err = io.StringIO(), io.StringIO()
        t = time.perf_counter()
        sys.argv = ["layerloom", "check", f]
        try:
            with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
                runpy.run_module("app.cli", run_name="__main__")
            code = 0
        except SystemExit as e:
            code = e.code
        except BaseException as e:  # what the user would see as a traceback
            code, err = "raised", io.StringIO(f"Traceback: {type(e).__name__}: {e}")
        out[f] = {"code": code, "stdout": buf.getvalue(), "stderr": err.getvalue(),
                  "seconds": time.perf_counter() - t}
    print(json.dumps(out))
"""


def test_check_reports_huge_sizes_quickly(tmp_path):
    files = huge_files(tmp_path)
    r = run_capped(["-c", textwrap.dedent(CHECK_ALL), *map(str, files.values())])
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads(r.stdout)
    by_name = {name: results[str(f)] for name, f in files.items()}
    for name, res in by_name.items():
        assert res["code"] in (0, 1), (name, res)
        assert "Traceback" not in res["stderr"], (name, res["stderr"][-2000:])
        assert res["seconds"] < 2.0, (name, res["seconds"])
        assert " parameters (" in res["stdout"], (name, res["stdout"][-2000:])
    lin = by_name["linear_2147483647"]["stdout"]
    assert "fc1" in lin and "N × 2147483647" in lin and "6,442,450,941" in lin
    assert "137,438,953,472" in lin  # fc2: 64 × 2,147,483,647 + 64
    assert "64,000,000,064" in by_name["input_1e9x1e9"]["stdout"]  # fc1: 64 × 1e9 + 64
    assert "64,000,000,000,064" in by_name["input_1e12"]["stdout"]  # fc1: 64 × 1e12 + 64
    for name in ("input_1e30", "input_many"):
        res = by_name[name]
        assert res["code"] == 1
        assert "x: Input 'x': shape holds more values than a tensor can" in res["stdout"]


def test_check_as_a_user_runs_it(tmp_path):
    """The console script itself, on the issue's example: a report and exit status, no
    traceback."""
    f = huge_files(tmp_path)["linear_2147483647"]
    r = run_capped(["-m", "app.cli", "check", str(f)])
    assert r.returncode == 1, r.stderr[-3000:]  # what compile would refuse is a problem here
    assert "Traceback" not in r.stderr
    assert "6,442,450,941" in r.stdout and " parameters (" in r.stdout
    assert "fc1: Linear 'fc1' would need" in r.stdout and "GiB of weights" in r.stdout
    assert "GiB as float32" in r.stdout and "no problems found" not in r.stdout
