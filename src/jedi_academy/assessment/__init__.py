"""Administering instruments to patient models in character, and comparing the results."""
