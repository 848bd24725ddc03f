#!/usr/bin/env bash
# Set up (if needed), compile MLPerf Tiny's Visual Wake Words model for nucleo-f746, print the RAM/flash/speed
# report, then run the golden input on the emulated board and check the output against TFLite Micro's.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
models=../shared/models
model=$models/mlperf_vww_96_int8.tflite
if [ ! -f "$model" ]; then
    echo "demo: $model not found: the demo uses the shared MLPerf Tiny models beside this repo" >&2
    exit 1
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
print("bit-exact with TFLite Micro:", same)
sys.exit(0 if same else 1)'
