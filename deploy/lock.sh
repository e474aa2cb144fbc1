#!/usr/bin/env bash
# Regenerate deploy/requirements.lock from pyproject.toml in a throw-away virtual environment.
source "$(dirname "$0")/env.sh"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$(find_python)" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet --upgrade "pip==26.3"
"$tmp/venv/bin/python" -m pip install --quiet "$REPO[dev]"
{
  echo "# The whole pinned dependency closure (pip freeze of a clean install of pyproject.toml with [dev])."
  echo "# Installed by deploy/quickstart.sh and deploy/test.sh; regenerate with deploy/lock.sh after changing pyproject.toml."
  "$tmp/venv/bin/python" -m pip freeze --exclude healthcare-assets
} >"$REPO/deploy/requirements.lock"
echo "wrote deploy/requirements.lock"
