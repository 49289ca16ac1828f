#!/bin/sh
# Install what castore needs, build it with -Werror, and pass every test.
# Run as root from the repository root:  sudo ./scripts/test.sh
set -eu
cd "$(dirname "$0")/.."
./scripts/setup.sh --tests
make -j"$(nproc)" DEVELOPER=1
make check DEVELOPER=1
