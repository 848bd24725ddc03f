#!/usr/bin/env bash
# Set up (if needed), then the main job on the emulated nucleo-f746:
#  1. train a small CNN on scikit-learn's digits in PyTorch, quantize it to int8 with calibration data, build
#     the firmware (RAM/flash/speed report), and evaluate the held-out digits on the emulated board over serial;
#  2. if the shared MLPerf Tiny models are beside the repo, compile Visual Wake Words and check its output against
#     TensorFlow Lite Micro's bit for bit.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

.venv/bin/python -m scripts.train_digits build/digits
.venv/bin/codegen build --board nucleo-f746 --model build/digits/digits_cnn.pt2 --calib build/digits/calib.npz \
    --out build/digits/fw
.venv/bin/codegen eval build/digits/fw --emulate --data build/digits/test.npz --jobs 2

model=../shared/models/mlperf_vww_96_int8.tflite
if [ ! -f "$model" ]; then
    echo "demo: $model not found; skipping the MLPerf Tiny part (the shared models live beside this repo)"
    exit 0
fi
.venv/bin/codegen build --board nucleo-f746 --model "$model" --out build/vww_96
.venv/bin/python - <<'PY'
import numpy as np
d = np.load("../shared/models/vectors/mlperf_vww_96_int8.npz")
np.save("build/vww_96_input.npy", d["in0"])
np.save("build/vww_96_golden.npy", d["out0"])
PY
.venv/bin/codegen run --board nucleo-f746 --emulate --model "$model" --input build/vww_96_input.npy \
    --output build/vww_96_output.npy --out build/vww_96_run
.venv/bin/python -c '
import numpy as np, sys
same = np.array_equal(np.load("build/vww_96_output.npy"), np.load("build/vww_96_golden.npy"))
print("VWW bit-exact with TFLite Micro:", same)
sys.exit(0 if same else 1)'
