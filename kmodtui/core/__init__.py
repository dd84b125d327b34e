"""Headless core: never imports textual, rich, screens or widgets (tests/core/test_core_is_headless.py)."""
