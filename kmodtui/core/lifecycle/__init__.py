"""Keeping modules alive across kernel updates: update checks, signing, version locks."""
