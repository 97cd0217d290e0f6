# Shared set-up for scripts/run-app and scripts/test: system libraries (Debian/Ubuntu, when we
# may install them) and the project's own virtualenv in .venv. Sourced, not executed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"

# Libraries PySide6 needs at run time, plus what the test suite runs for real.
APP_DEBS=(libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libxcb-cursor0
          libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0
          libxcb-render-util0 libxcb-image0 fonts-dejavu-core
          # a C compiler and Python's headers: mypyc compiles the proxy's hot path (build_native)
          gcc libc6-dev python3-dev)
# desktop-file-utils + appstream validate packaging/; zsh checks the completion script;
# chromium + chromium-driver run the Dev Portal browser test (Selenium, headless)
TEST_DEBS=(redis-server gnome-keyring dbus dbus-x11 xvfb desktop-file-utils appstream zsh chromium chromium-driver)
# What bench/bench_proxy.py measures against (scripts/bench installs them).
BENCH_DEBS=(wrk nginx-light util-linux)

install_debs() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "note: not a Debian-like system; please install the equivalents of: ${missing[*]}" >&2
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "note: cannot install ${missing[*]} without root; install them and re-run" >&2; return 0
    fi
  fi
  echo "Installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_venv() {
  local extra="$1"
  if [ ! -x "$VENV/bin/python" ]; then
    echo "Creating virtualenv in .venv"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
  fi
  # Re-install when pyproject.toml changed since the last install.
  local stamp="$VENV/.installed-$extra"
  if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
    echo "Installing konnect-desktop${extra:+[$extra]} into .venv"
    "$VENV/bin/python" -m pip install -q -e "$ROOT${extra:+[$extra]}"
    touch "$stamp"
  fi
  build_native
}

# The proxy's hot path compiled with mypyc (konnect_desktop/native.py): only when its sources
# changed since the last build. When it cannot be built the proxy runs as plain Python (slower).
native() {  # konnect_desktop/native.py's main: build [--force] [--strict] | status
  "$VENV/bin/python" -c 'import sys; from konnect_desktop.native import main; sys.exit(main())' "$@"
}

build_native() {
  local log="$VENV/native-build.log"
  if native status | grep -q "^compiled"; then return 0; fi
  echo "Compiling the proxy's hot path with mypyc (about a minute, once; log: .venv/native-build.log)"
  if native build --strict >"$log" 2>&1; then
    echo "Proxy modules: $(native status)"
  else
    echo "note: the proxy's hot path was not compiled (see $log); it runs as plain Python" >&2
  fi
}
