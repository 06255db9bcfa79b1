import hashlib
import os
import tempfile
from pathlib import Path

import pytest

# One cache of computed data (the detection templates' region proposals) for the whole run,
# outside the user's own cache folder and shared by the tests that give each window its
# own LAYERLOOM_HOME.
os.environ.setdefault("LAYERLOOM_CACHE", tempfile.mkdtemp(prefix="layerloom-cache-"))

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def _digest() -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in TEMPLATES.glob("*.json")}


@pytest.fixture(scope="session", autouse=True)
def templates_stay_untouched():
    """No test may write into templates/ (they are shipped files)."""
    before = _digest()
    yield
    assert _digest() == before, "a test modified a file in templates/"
