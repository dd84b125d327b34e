"""The Secure Boot doctor (`kmodtui secureboot`): the boot's trust facts, each module's signer, and
the kernel's signature rules applied to them. Findings-level: reads modules and the root, nothing above."""

from kmodtui.core.secureboot.facts import BootState, read_state
from kmodtui.core.secureboot.verdict import ModuleSigner, Verdict, judge, read_cert, read_signer

__all__ = ["BootState", "ModuleSigner", "Verdict", "judge", "read_cert", "read_signer", "read_state"]
