"""Scripts, not libraries: setup/test/demo, benchmarks, the cost-model fit, the digits training example and the
MCUNet model builder. Run from the repository root, e.g. `python -m scripts.benchmark_speed`."""
