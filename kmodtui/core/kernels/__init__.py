"""Where a kernel is found: build trees on this machine, in a root, or unpacked from a headers package."""
