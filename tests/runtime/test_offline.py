"""No template run opens a network socket: datasets are generated or shipped in a package."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

GUARD = """
import sys
def guard(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.bind", "urllib.Request"):
        raise SystemExit(f"network access: {event} {args}")
sys.addaudithook(guard)
from app.cli import main
from templates import list_templates
for t in list_templates():
    name = t.key
    rc = main(["train", f"templates/{name}.json", "--max-steps", "5", "--device", "cpu",
               "--no-progress"])
    assert rc == 0, name
print("OFFLINE-OK")
"""


@pytest.mark.slow  # every template trained a few steps in fresh processes
def test_no_template_run_opens_a_socket():
    r = subprocess.run([sys.executable, "-c", GUARD], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OFFLINE-OK" in r.stdout


def test_the_guard_does_catch_a_socket():
    code = GUARD.split("from app.cli")[0] + "import socket\nsocket.create_connection(('127.0.0.1', 9))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "network access: socket" in r.stderr + r.stdout
