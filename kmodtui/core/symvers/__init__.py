"""Files -> facts, for kernels' exports: Module.symvers in all its layouts."""
