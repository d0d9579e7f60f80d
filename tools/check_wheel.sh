#!/usr/bin/env bash
# Builds the wheel and installs it into a fresh venv (as tools/install.sh does on a charger), then checks
# that the `chargepi` command works there: version, config validation, the shipped JSON schema.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

start=$(date +%s)
"$PYTHON" -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$scratch/dist" . \
    > "$scratch/build.log" 2>&1 || { cat "$scratch/build.log" >&2; exit 1; }
wheel=$(ls "$scratch"/dist/chargepi-*.whl)
version=$("$PYTHON" -c 'import firmware; print(firmware.__version__)')
case "$(basename "$wheel")" in
    "chargepi-$version-py3-none-any.whl") ;;
    *) echo "check_wheel: $(basename "$wheel") does not carry version $version" >&2; exit 1 ;;
esac

"$PYTHON" -m venv "$scratch/venv"
"$scratch/venv/bin/pip" install --quiet --disable-pip-version-check "$wheel" > "$scratch/install.log" 2>&1 \
    || { cat "$scratch/install.log" >&2; exit 1; }
cd "$scratch"  # nothing from the source tree on sys.path
out=$("$scratch/venv/bin/chargepi" --version)
[ "$out" = "chargepi $version" ] || { echo "check_wheel: --version said: $out" >&2; exit 1; }
"$scratch/venv/bin/chargepi" config validate "$OLDPWD/config/chargepi.toml" >/dev/null
"$scratch/venv/bin/chargepi" config schema | "$scratch/venv/bin/python" -c 'import json, sys; json.load(sys.stdin)'
"$scratch/venv/bin/python" - <<'PY'
from importlib.resources import files
assert files("firmware.control").joinpath("status.schema.json").is_file(), "status schema not in the wheel"
PY
echo "check_wheel: $(basename "$wheel") installs into a fresh venv and runs ($(( $(date +%s) - start )) s)"
