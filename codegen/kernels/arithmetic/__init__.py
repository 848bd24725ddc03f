"""Element-wise arithmetic families: ADD/MUL and friends, the fast int8 ADD, QUANTIZE/DEQUANTIZE."""
