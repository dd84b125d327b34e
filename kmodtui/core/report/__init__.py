"""Findings -> words and JSON: what every verb prints (the JSON contract lives here)."""
