"""(being written) torch.nn layer families generated from one table each (issue 26)."""
from __future__ import annotations

SPECS = ()
