"""What every Try mode shares: the one error it reports."""
from __future__ import annotations


class TryError(Exception):
    """Why the model cannot be tried (no weights, no data, not a text model): one message."""

