"""The 16x8 convolution-like families (int16 activations, int8 weights): CONV_2D, DEPTHWISE_CONV_2D,
FULLY_CONNECTED and their DSP variants."""
