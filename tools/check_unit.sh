#!/usr/bin/env bash
# Checks systemd/chargepi.service: `systemd-analyze verify` must be clean and the offline
# `systemd-analyze security` exposure must be "OK" or better (<= 4.9). Prints the score for the CI log.
# Installs systemd's tools when they are missing and we are root (CI); otherwise fails loudly.
set -euo pipefail
cd "$(dirname "$0")/.."
unit=systemd/chargepi.service

if ! command -v systemd-analyze >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "check_unit: installing systemd for systemd-analyze" >&2
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
    else
        echo "check_unit: systemd-analyze is missing and cannot be installed here (need root + apt-get)" >&2
        exit 1
    fi
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# verify checks that ExecStart's program exists: point it at a stand-in, leave everything else as is.
mkdir -p "$scratch/bin"
printf '#!/bin/sh\nexit 0\n' > "$scratch/bin/chargepi"
chmod +x "$scratch/bin/chargepi"
sed "s|^ExecStart=/opt/chargepi/current/bin/chargepi|ExecStart=$scratch/bin/chargepi|" "$unit" \
    > "$scratch/chargepi.service"
if ! out=$(systemd-analyze verify "$scratch/chargepi.service" 2>&1) || [ -n "$out" ]; then
    echo "check_unit: systemd-analyze verify $unit failed:" >&2
    echo "$out" >&2
    exit 1
fi
echo "check_unit: systemd-analyze verify $unit: clean"

# Offline analysis (systemd >= 250) needs no running systemd; 49 = exposure 4.9, the top of "OK".
report=$(systemd-analyze security --offline=yes --threshold=49 "$unit" 2>&1) && status=0 || status=$?
score=$(printf '%s\n' "$report" | grep 'Overall exposure level' || true)
if [ -z "$score" ]; then
    echo "check_unit: systemd-analyze security gave no score:" >&2
    echo "$report" >&2
    exit 1
fi
echo "check_unit: $(systemd-analyze --version | head -1): ${score#→ }"
if [ "$status" != 0 ]; then
    echo "check_unit: exposure is worse than OK; findings:" >&2
    printf '%s\n' "$report" | grep '✗' >&2
    exit 1
fi
