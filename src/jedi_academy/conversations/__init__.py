"""Therapist/patient conversations generated from persona cards, with the contamination guard."""
