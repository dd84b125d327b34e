"""Findings -> remedies: the catalogue, safe file edits with undo, kernel hooks."""
