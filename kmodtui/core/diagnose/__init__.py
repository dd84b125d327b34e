"""`kmodtui diagnose`: the root cause of a failure log (engine.py), in the published vocabulary
of causes (kmodtui.core.vocabulary.Cause) with what each means and what to do (causes.py). Its log
rules (rules.py) are the build screen's too (kmodtui.core.build.logscan)."""

from __future__ import annotations

from kmodtui.core.diagnose.engine import Diagnosis, Signal, diagnose_sources, diagnose_text, read_logs

__all__ = ["Diagnosis", "Signal", "diagnose_sources", "diagnose_text", "read_logs"]
