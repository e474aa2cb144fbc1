#!/usr/bin/env bash
# README command 1: install everything pinned into .venv and run the whole pipeline on embedded synthetic data.
source "$(dirname "$0")/env.sh"
ensure_venv
cd "$REPO"
"$VENV/bin/healthcare-assets" run --source synthetic --patients "${PATIENTS:-2000}" "$@"
echo
echo "Next: source .venv/bin/activate, then 'healthcare-assets --help'; tests: bash deploy/test.sh"
