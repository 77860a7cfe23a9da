#!/usr/bin/env bash
# Sets up, builds and runs smop: `scripts/dev.sh [ARGS...]` (default: `dev`,
# the local sandbox). This is the README's "run it" command.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
if [ $# -eq 0 ]; then set -- dev; fi
exec build/smop "$@"
