#!/usr/bin/env bash
# Sets up, builds and runs every test: C unit tests and Lua specs (ctest),
# again under ASan+UBSan, then luacheck. This is the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

jobs=$(nproc 2>/dev/null || echo 2)

echo "== build (warnings are errors)"
cmake -S . -B build -DSMOP_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
echo "== tests"
(cd build && ctest --output-on-failure)

echo "== build with AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -DSMOP_SANITIZE=ON -DSMOP_WERROR=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs"
echo "== tests under sanitizers"
# Leak checking stays on; busted's own C modules are suppressed (not ours).
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$PWD/../spec/lsan.supp \
  ctest --output-on-failure)

echo "== luacheck"
luacheck -q lua spec bench
