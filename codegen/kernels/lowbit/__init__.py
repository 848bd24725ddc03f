"""Low-bit (QuantMCU) kernels of the patch stage: b-bit activation codes, int8 weights."""
