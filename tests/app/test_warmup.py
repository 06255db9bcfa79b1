import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the preload path checked is Linux's")
def test_libtorch_preloads_without_the_gil_and_torch_then_imports_and_works():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import app.warmup as w; "
            "assert 'torch' not in sys.modules; ok = w._preload_libtorch(); "
            "import torch; x = torch.ones(2, 3); "
            "print(ok, float(torch.nn.functional.linear(x, torch.ones(4, 3)).sum()), "
            "w._preload_libtorch())")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT)], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["True", "24.0", "False"]  # loaded; torch works; not redone once imported
