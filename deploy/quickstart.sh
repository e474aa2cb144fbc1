#!/usr/bin/env bash
# README command 1: install everything pinned into .venv and run the whole pipeline on embedded synthetic data.
source "$(dirname "$0")/env.sh"
ensure_venv
cd "$REPO"
# 20,000 patients: enough test-split events for the clinical gate to judge subgroups (README "How big a cohort
# the gate needs"); PATIENTS=2000 is quicker but its model cannot pass the gate.
"$VENV/bin/healthcare-assets" run --source synthetic --patients "${PATIENTS:-20000}" "$@"
echo
echo "Next: source .venv/bin/activate, then 'healthcare-assets --help'; tests: bash deploy/test.sh"
