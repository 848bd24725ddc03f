"""Int8 post-training quantization of float graphs: calibration, TFLite-style parameters, the error report."""
