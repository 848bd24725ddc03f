#!/usr/bin/env bash
# Set up (if needed) and run every check: ruff, then the full test suite including the QEMU firmware runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check codegen tools scripts tests
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
