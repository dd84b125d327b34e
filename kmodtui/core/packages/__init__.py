"""Files -> facts, for packages: .deb/.rpm readers, safe unpacking, rpm's dependency rules, package sets."""
