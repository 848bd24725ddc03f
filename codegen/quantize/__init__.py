"""Int8 post-training quantization of float graphs: calibration, TFLite-style parameters, the error report; and
`mixed_precision`, QuantMCU's value-driven mixed precision of the patch stage (offline half), which also imports
`codegen.schedule` (patch expansion) and `codegen.reference_executor`."""
