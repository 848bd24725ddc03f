"""The compiler: a trained model in, C sources for a Cortex-M board out. It never imports the host side (`tools`).

Data flows through the stage packages in this order; `pipeline.py` is the one place that strings them together:

    frontend/  .tflite reader and writer, PyTorch / Keras / float-TFLite frontends, MCUNet model zoo -> ir.Graph
    quantize/  float graph + calibration data -> int8 graph (post-training quantization)
    ir.py      the typed graph every stage shares (tensors, operators, quantization)
    passes/    graph -> kernel calls: PAD fusion, lowering, fast-kernel specialisation, in-place placement
    schedule/  per-layer, patch and band schedules of the first stage, their search and the cost model
    memory/    the static arena plan (offsets of every buffer) and its per-layer profile plot
    emit/      kernel calls + plan -> C sources, loops over bands, the firmware tree, PlatformIO, size report
    kernels/   beside the stages: one module per kernel family (lowering, NumPy reference, specialisers)
    targets/   the board catalogue and what each core can run

`reference_executor.py` runs a compiled call list with the NumPy references (the host-side golden path);
`errors.py` holds the exception types that the CLI turns into one-line messages and exit codes.
"""
