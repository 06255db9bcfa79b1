import hashlib
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def _digest() -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in TEMPLATES.glob("*.json")}


@pytest.fixture(scope="session", autouse=True)
def templates_stay_untouched():
    """No test may write into templates/ (they are shipped files)."""
    before = _digest()
    yield
    assert _digest() == before, "a test modified a file in templates/"
