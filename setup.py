"""Only for the optional C scanner; everything else is in pyproject.toml.

The C reader (kmodtui/core/elf/kscan_*.c) includes no Python header (it is loaded with ctypes), so
it builds wherever a C compiler is; without one the install still succeeds and kmodtui uses its
pure-Python reader.
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("kmodtui.core.elf._kscan", ["kmodtui/core/elf/kscan_module.c", "kmodtui/core/elf/kscan_walk.c",
                                           "kmodtui/core/elf/kscan_symvers.c", "kmodtui/core/elf/kscan_needs.c"],
              depends=["kmodtui/core/elf/kscan.h"], optional=True,
              extra_compile_args=["-O2", "-std=c99", "-D_DEFAULT_SOURCE"]),
])
