"""tests/gpu: the checks that need a CUDA device (marked `gpu`, skipped without one) and their
CPU twins (the same bodies on the CPU, unmarked, so the logic runs everywhere).

    pytest -q -m gpu tests/gpu        # the GPU checks alone (tools/gpu_check.sh runs this)
    pytest -q tests/gpu               # here: the GPU checks skipped, the CPU twins run
"""
import pytest
import torch


def pytest_collection_modifyitems(config, items):
    """Every test marked `gpu` is skipped, with the reason, where torch sees no CUDA device
    (a guard besides each test's own skipif: a new test cannot forget it)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device (torch.cuda.is_available() is False)")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)
