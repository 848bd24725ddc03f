"""Measurements of the low-bit (QuantMCU) kernels (scripts/ itself holds its limit of modules)."""
