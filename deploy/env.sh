# Sourced by the deploy scripts: find Python 3.11, 3.12 or 3.13 and keep .venv installed from the pinned lock.
# Everything installs from deploy/requirements.lock (the whole pinned closure, with wheels for all three), then the
# project itself without dependencies, so a fresh machine gets exactly the versions CI tested.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HEALTHCARE_ASSETS_VENV:-$REPO/.venv}"
SUPPORTED_PYTHONS="3.11 3.12 3.13"

python_version() { # prints MAJOR.MINOR of a Python that runs, if it is a supported one
  "$1" -c 'import sys; v = "%d.%d" % sys.version_info[:2]; print(v) if v in sys.argv[1].split() else sys.exit(1)' \
    "$SUPPORTED_PYTHONS" 2>/dev/null
}

find_python() {
  local candidate
  if [ -n "${PYTHON:-}" ]; then
    if python_version "$PYTHON" >/dev/null; then
      echo "$PYTHON"
      return 0
    fi
    echo "error: PYTHON=$PYTHON is not a working Python $SUPPORTED_PYTHONS" >&2
    return 1
  fi
  for candidate in python3.11 python3 python python3.12 python3.13; do
    if command -v "$candidate" >/dev/null 2>&1 && python_version "$candidate" >/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "error: Python 3.11, 3.12 or 3.13 not found (set PYTHON=/path/to/python3.X)" >&2
  return 1
}

# A specific version (e.g. 3.13) on PATH, or installed by pyenv without being selected.
find_python_version() {
  local want="$1" version
  if command -v "python$want" >/dev/null 2>&1 && [ "$(python_version "python$want")" = "$want" ]; then
    command -v "python$want"
    return 0
  fi
  if command -v pyenv >/dev/null 2>&1; then
    version="$(pyenv versions --bare 2>/dev/null | grep -E "^${want//./\\.}(\.[0-9]+)?$" | sort -V | tail -1)"
    if [ -n "$version" ]; then
      PYENV_VERSION="$version" pyenv which "python$want"
      return 0
    fi
  fi
  echo "error: Python $want not found" >&2
  return 1
}

ensure_venv() {
  local stamp want python have
  python="$(find_python)"
  want="$(cat "$REPO/deploy/requirements.lock" "$REPO/pyproject.toml" | sha256sum | cut -c1-16)-py$(python_version "$python")"
  stamp="$VENV/.healthcare-assets-installed"
  if [ -x "$VENV/bin/python" ] && [ -n "${PYTHON:-}" ]; then
    have="$(python_version "$VENV/bin/python" || true)"
    if [ "$have" != "$(python_version "$python")" ]; then
      echo "==> $VENV has Python ${have:-unknown}; recreating it with $python"
      rm -rf "$VENV"
    fi
  fi
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating virtual environment $VENV (Python $(python_version "$python"))"
    "$python" -m venv "$VENV"
  fi
  echo "==> installing pinned dependencies (deploy/requirements.lock)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade "pip==26.3"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REPO/deploy/requirements.lock"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e "$REPO"
  echo "$want" >"$stamp"
}
