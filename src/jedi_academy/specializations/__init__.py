"""Specializations: clinical focus areas mapped to subreddits and instruments (YAML package data)."""
