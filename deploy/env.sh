# Sourced by the deploy scripts: find Python 3.11 and keep .venv installed from the pinned lock.
# Everything installs from deploy/requirements.lock (the whole pinned closure), then the project itself
# without dependencies, so a fresh machine gets exactly the versions CI tested.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HEALTHCARE_ASSETS_VENV:-$REPO/.venv}"

find_python() {
  for candidate in "${PYTHON:-}" python3.11 python3 python; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "error: Python 3.11 not found (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

ensure_venv() {
  local stamp want
  want="$(cat "$REPO/deploy/requirements.lock" "$REPO/pyproject.toml" | sha256sum | cut -c1-16)"
  stamp="$VENV/.healthcare-assets-installed"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating virtual environment $VENV"
    "$(find_python)" -m venv "$VENV"
  fi
  echo "==> installing pinned dependencies (deploy/requirements.lock)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip==26.3"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REPO/deploy/requirements.lock"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e "$REPO"
  echo "$want" >"$stamp"
}
