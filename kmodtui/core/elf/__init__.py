"""Files -> facts, for modules: the ELF reader (modinfo, __versions, exports) and its C accelerator."""
