"""Convolution-like families: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and their DSP variants."""
