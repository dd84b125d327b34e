"""Facts -> findings: who provides each symbol a module needs, and whether it will load."""
