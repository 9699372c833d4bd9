"""Validated clinical questionnaires: definitions (YAML package data), scoring and change statistics."""
