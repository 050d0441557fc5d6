"""Fidelity of a synthetic table against a real one: tabular, text, privacy and utility."""
