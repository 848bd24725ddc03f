"""Resampling kernels: RESIZE_NEAREST_NEIGHBOR (byte copies by index tables) and RESIZE_BILINEAR (int8)."""
