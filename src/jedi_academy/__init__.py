"""Jedi Academy: simulated patients and validated questionnaires for new psychotherapists."""

__version__ = "0.1.0"
