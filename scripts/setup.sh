#!/usr/bin/env bash
# Set up a fresh Debian machine for this project: the Arm toolchain, QEMU and a .venv at the repo root.
# Idempotent: installs only what is missing, reinstalls Python packages only when pyproject.toml changes.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(gcc make gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)
missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# tflite-runtime 2.14 (the bit-exact reference) ships wheels for CPython 3.11 only.
python=""
for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
        python="$candidate"
        break
    fi
done
if [ -z "$python" ]; then
    echo "setup: Python 3.11 is required (tflite-runtime 2.14 has no wheel for other versions); install python3.11" >&2
    exit 1
fi

stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
    [ -x .venv/bin/python ] || "$python" -m venv .venv
    echo "setup: installing Python packages into .venv"
    .venv/bin/pip install -q --disable-pip-version-check -e ".[test,frontends,cluster]"
    rm -f .venv/.installed-*
    touch "$stamp"
fi
