"""kmodtui: get out-of-tree Linux kernel modules built, packaged and installable."""

__version__ = "0.1.0"
