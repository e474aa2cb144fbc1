#!/usr/bin/env bash
# README command 2 (and what .ci/run calls): install everything pinned into .venv, then run the test suite.
source "$(dirname "$0")/env.sh"
ensure_venv
cd "$REPO"
"$VENV/bin/python" -m ruff check healthcare_assets healthcare_assets_tests bench
exec "$VENV/bin/python" -m pytest "$@"
