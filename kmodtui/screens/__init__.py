"""Screens present core results and send user intent back; they never parse or decide."""
