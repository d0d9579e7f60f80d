#!/usr/bin/env bash
# Install, upgrade or remove chargepi on Raspberry Pi OS (Bookworm and later) or any Debian-like system.
#
#   sudo tools/install.sh                    install or upgrade from this source tree
#   sudo tools/install.sh --wheel FILE       install or upgrade from a built wheel
#   sudo tools/install.sh --config config/pi-hat-mcp3004.toml   first install with your board's config
#   sudo tools/install.sh --firmware-root FILE   install a manufacturer root certificate for firmware updates
#   sudo tools/install.sh --uninstall        remove the program and the service (config and state stay)
#   sudo tools/install.sh --uninstall --purge   ... and the config, the session records and the user
#
# Layout: /opt/chargepi/releases/<version>/ (a venv each), /opt/chargepi/current -> the running one,
# /usr/local/bin/chargepi, /etc/chargepi/chargepi.toml (root:chargepi 0640) and secrets.toml (0600, handed
# to the service by systemd; both kept on upgrade),
# /var/lib/chargepi (state, session records), /etc/systemd/system/chargepi.service, a udev rule that
# gives the gpio group the hardware PWM in sysfs (docs/reference/hardware.md §6.2).
#
# An upgrade switches `current` to the new release and restarts the service; if it does not come up
# (systemd start fails or the controller does not answer `chargepi status`), `current` goes back to the
# previous release, which is restarted, and the script exits 1. Running it again is harmless.
#
# Firmware updates from the back end (docs/firmware-signing.md): the controller hands a verified, signed
# bundle to /var/lib/chargepi-update/incoming; chargepi-update.path starts chargepi-update.service, the
# installer (firmware/update/installer.py). It runs as the user chargepi-update, never as root and without
# network, and owns /opt/chargepi so it can add releases and switch `current`. Manufacturer root
# certificates that firmware signatures must chain to live in /etc/chargepi/firmware-roots (--firmware-root).
#
# Local roles on the control socket (docs/security.md §7): members of group chargepi may read status and
# sessions (idTags masked), of chargepi-technician also change limits, the OCPP link and faults, of
# chargepi-simulator drive the fake HAL. The script creates those groups; add people with e.g.
# `sudo usermod -aG chargepi,chargepi-technician alice` (--purge removes the groups again).
#
# Options: --config FILE is the first configuration (default config/chargepi.toml, simulated hardware;
# config/ has examples per board); --root DIR (or DESTDIR) installs under DIR, e.g. for an image or for
# tests; --no-start only enables the unit (offline image builds); --force rebuilds an existing release.
# Environment: PYTHON (default python3), SYSTEMCTL (default systemctl), CHARGEPI_START_TIMEOUT (s, 60).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
ROOT=${DESTDIR:-/}
WHEEL=""
FIRST_CONFIG=""
FIRMWARE_ROOTS=()
ACTION=install
PURGE=0
START=1
FORCE=0
PYTHON=${PYTHON:-python3}
SYSTEMCTL=${SYSTEMCTL:-systemctl}
START_TIMEOUT=${CHARGEPI_START_TIMEOUT:-60}
USER_NAME=chargepi
UPDATE_USER=chargepi-update  # the firmware installer's own user
# Hardware access, plus systemd-journal so GetDiagnostics can include the service's journal.
SERVICE_GROUPS="gpio spi i2c dialout systemd-journal"
# Control-socket roles (firmware/control/roles.py): the service's own group chargepi is the read-only
# role (and needed to open the socket at all); these two add the technician and simulator roles.
ROLE_GROUPS="chargepi-technician chargepi-simulator"
KEEP_RELEASES=3

say() { printf 'chargepi-install: %s\n' "$*"; }
die() { printf 'chargepi-install: error: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT=${2:?--root needs a directory}; shift ;;
        --wheel) WHEEL=${2:?--wheel needs a file}; shift ;;
        --config) FIRST_CONFIG=${2:?--config needs a file}; shift ;;
        --firmware-root) FIRMWARE_ROOTS+=("${2:?--firmware-root needs a PEM file}"); shift ;;
        --uninstall) ACTION=uninstall ;;
        --purge) PURGE=1 ;;
        --no-start) START=0 ;;
        --force) FORCE=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done

ROOT=${ROOT%/}
OPT=$ROOT/opt/chargepi
ETC=$ROOT/etc/chargepi
STATE=$ROOT/var/lib/chargepi
UPDATE_STATE=$ROOT/var/lib/chargepi-update
UNIT=$ROOT/etc/systemd/system/chargepi.service
UPDATE_UNITS="chargepi-update.service chargepi-update.path"
UDEV_RULE=$ROOT/etc/udev/rules.d/60-chargepi-pwm.rules
LINK=$ROOT/usr/local/bin/chargepi
COMPLETION=$ROOT/usr/share/bash-completion/completions/chargepi

if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
    die "run as root (sudo $0 ...)"
fi
# Account tools work on the target root; systemctl only on the running system unless --no-start.
ACCOUNT_ROOT=()
[ -n "$ROOT" ] && ACCOUNT_ROOT=(--root "$ROOT")

as_service_user() {  # run the new release's code without root rights (on the real system)
    if [ -z "$ROOT" ] && [ "$(id -u)" = 0 ]; then
        runuser -u "$USER_NAME" -- "$@"
    else
        "$@"
    fi
}

user_exists() { grep -q "^${1:-$USER_NAME}:" "$ROOT/etc/passwd" 2>/dev/null; }
# Numeric ids from the target's own account files (right for --root images too).
uid_of() { awk -F: -v n="$1" '$1 == n { print $3 }' "$ROOT/etc/passwd"; }
gid_of() { awk -F: -v n="$1" '$1 == n { print $3 }' "$ROOT/etc/group"; }
group_exists() { grep -q "^$1:" "$ROOT/etc/group" 2>/dev/null; }

ensure_user() {
    if ! user_exists; then
        useradd "${ACCOUNT_ROOT[@]}" --system --user-group --home-dir /var/lib/chargepi --no-create-home \
            --shell /usr/sbin/nologin --comment "chargepi EV charger controller" "$USER_NAME"
        say "created system user $USER_NAME"
    fi
    if ! user_exists "$UPDATE_USER"; then
        useradd "${ACCOUNT_ROOT[@]}" --system --user-group --home-dir /var/lib/chargepi-update \
            --no-create-home --shell /usr/sbin/nologin --comment "chargepi firmware installer" "$UPDATE_USER"
        say "created system user $UPDATE_USER"
    fi
    local groups="" group
    for group in $ROLE_GROUPS; do
        if ! group_exists "$group"; then
            groupadd "${ACCOUNT_ROOT[@]}" --system "$group"
            say "created group $group"
        fi
    done
    for group in $SERVICE_GROUPS; do
        if group_exists "$group"; then groups="$groups${groups:+,}$group"; fi
    done
    if [ -n "$groups" ]; then
        usermod "${ACCOUNT_ROOT[@]}" --append --groups "$groups" "$USER_NAME"
    fi
}

new_version() {
    if [ -n "$WHEEL" ]; then
        [ -f "$WHEEL" ] || die "no wheel at $WHEEL"
        basename "$WHEEL" | sed -n 's/^chargepi-\([^-]*\)-.*\.whl$/\1/p'
    else
        sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$SRC/firmware/__init__.py"
    fi
}

check_python() {
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        die "$PYTHON is missing or older than 3.11 (Raspberry Pi OS Bookworm or later has 3.11)"
    fi
    if ! "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
        if [ -z "$ROOT" ] && command -v apt-get >/dev/null 2>&1; then
            say "installing python3-venv"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        else
            die "$PYTHON cannot create virtual environments: apt-get install python3-venv"
        fi
    fi
}

build_release() {  # $1 = release directory
    # Built where it runs: a venv's scripts name its interpreter by absolute path, so a venv cannot be
    # moved into place. The marker .complete, written last, says the release is whole (as the firmware
    # installer does); a release without it is built again.
    local dir=$1
    if [ -e "$dir/.complete" ] && [ "$FORCE" = 0 ]; then
        say "release $(basename "$dir") is already built"
        return
    fi
    rm -rf "$dir"
    mkdir -p "$OPT/releases"
    "$PYTHON" -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check "${WHEEL:-$SRC}"
    basename "$dir" > "$dir/.complete"
    say "built release $(basename "$dir")"
}

install_config() {
    local uid gid update_uid root
    uid=$(uid_of "$USER_NAME")
    gid=$(gid_of "$USER_NAME")
    update_uid=$(uid_of "$UPDATE_USER")
    [ -n "$uid" ] && [ -n "$gid" ] && [ -n "$update_uid" ] || die "users or group missing from $ROOT/etc"
    install -d -m 0750 "$ETC" "$STATE"
    chown "0:$gid" "$ETC"
    chown "$uid:$gid" "$STATE"
    # The installer's exchange with the controller (group chargepi): it drops bundles through upload/ into
    # incoming/ and reads results/; everything else there is the installer's.
    install -d -m 0750 "$UPDATE_STATE" "$UPDATE_STATE/results"
    install -d -m 0770 "$UPDATE_STATE/incoming" "$UPDATE_STATE/upload"
    chown "$update_uid:$gid" "$UPDATE_STATE" "$UPDATE_STATE/results" "$UPDATE_STATE/incoming" \
        "$UPDATE_STATE/upload"
    # Manufacturer roots for firmware signatures: only root changes them; both services read them.
    install -d -m 0755 "$ETC/firmware-roots"
    for root in "${FIRMWARE_ROOTS[@]}"; do
        install -m 0644 "$root" "$ETC/firmware-roots/$(basename "$root")"
        say "installed firmware root certificate $ETC/firmware-roots/$(basename "$root")"
    done
    if [ ! -e "$ETC/chargepi.toml" ]; then
        install -m 0640 "${FIRST_CONFIG:-$SRC/config/chargepi.toml}" "$ETC/chargepi.toml"
        say "installed a first configuration: $ETC/chargepi.toml (edit it: chargepi config set ...)"
    elif [ -n "$FIRST_CONFIG" ]; then
        say "kept the existing $ETC/chargepi.toml (--config only applies to a first install)"
    fi
    # Only root writes the config; the service's group reads it.
    chown "0:$gid" "$ETC/chargepi.toml"
    chmod 0640 "$ETC/chargepi.toml"
    # Credentials: root only; systemd passes the service a copy (LoadCredential= in the unit).
    if [ ! -e "$ETC/secrets.toml" ]; then
        printf '%s\n' "# chargepi credentials (merged over chargepi.toml), e.g." "# [ocpp]" \
            "# authorization_key = \"...\"" "# Set them with: sudo chargepi config set ocpp.authorization_key VALUE" \
            > "$ETC/secrets.toml"
    fi
    chown "0:$gid" "$ETC/secrets.toml"
    chmod 0600 "$ETC/secrets.toml"
}

install_system_files() {
    install -d "$(dirname "$UNIT")" "$(dirname "$UDEV_RULE")" "$(dirname "$LINK")" "$(dirname "$COMPLETION")"
    install -m 0644 "$SRC/systemd/chargepi.service" "$UNIT"
    local unit
    for unit in $UPDATE_UNITS; do
        install -m 0644 "$SRC/systemd/$unit" "$(dirname "$UNIT")/$unit"
    done
    cat > "$UDEV_RULE.tmp" <<'RULE'
# chargepi: the gpio group may export and drive the hardware PWM channels (control pilot).
SUBSYSTEM=="pwm", ACTION=="add|change", RUN+="/bin/sh -c 'chgrp -R gpio /sys%p && chmod -R g+rwX /sys%p'"
RULE
    mv "$UDEV_RULE.tmp" "$UDEV_RULE"
    chmod 0644 "$UDEV_RULE"
    ln -sfn /opt/chargepi/current/bin/chargepi "$LINK"
    if ! as_service_user "$OPT/current/bin/chargepi" completion bash > "$COMPLETION.tmp" 2>/dev/null; then
        rm -f "$COMPLETION.tmp"
        say "warning: no shell completion (chargepi completion bash failed)"
    else
        mv "$COMPLETION.tmp" "$COMPLETION"
    fi
}

switch_to() {  # $1 = release name
    ln -sfn "releases/$1" "$OPT/current.tmp"
    mv -T "$OPT/current.tmp" "$OPT/current"
}

current_release() {
    if [ -L "$OPT/current" ]; then basename "$(readlink "$OPT/current")"; fi
}

healthy() {  # the service is running and the controller answers on its control socket
    local waited=0
    while [ "$waited" -lt "$START_TIMEOUT" ]; do
        if "$SYSTEMCTL" is-active --quiet chargepi &&
                as_service_user env CHARGEPI_CONFIG="$ETC/chargepi.toml" "$OPT/current/bin/chargepi" status --json \
                    >/dev/null 2>&1; then
            return 0
        fi
        sleep 1
        waited=$((waited + 1))
    done
    return 1
}

start_service() {
    if [ "$START" = 0 ]; then
        "$SYSTEMCTL" --root="${ROOT:-/}" enable chargepi.service chargepi-update.path >/dev/null
        say "unit enabled (not started: --no-start)"
        return 0
    fi
    if command -v udevadm >/dev/null 2>&1 && [ -z "$ROOT" ]; then
        udevadm control --reload || true
        udevadm trigger --subsystem-match=pwm || true
    fi
    "$SYSTEMCTL" daemon-reload
    "$SYSTEMCTL" enable chargepi.service >/dev/null
    "$SYSTEMCTL" enable --now chargepi-update.path >/dev/null
    "$SYSTEMCTL" restart chargepi.service || return 1
    healthy
}

prune_releases() {  # keep the current, the previous and the newest others up to KEEP_RELEASES
    local keep_a=$1 keep_b=$2 count=0 dir
    for dir in $(ls -1dt "$OPT"/releases/*/ 2>/dev/null); do
        dir=${dir%/}
        case "$(basename "$dir")" in "$keep_a"|"$keep_b") continue ;; esac
        count=$((count + 1))
        if [ "$count" -gt $((KEEP_RELEASES - 2)) ]; then rm -rf "$dir"; fi
    done
}

install_or_upgrade() {
    local version previous
    if [ -n "$FIRST_CONFIG" ]; then
        [ -f "$FIRST_CONFIG" ] || die "no config file at $FIRST_CONFIG"
        "$PYTHON" -c 'import tomllib, sys; tomllib.load(open(sys.argv[1], "rb"))' "$FIRST_CONFIG" 2>/dev/null \
            || die "$FIRST_CONFIG is not valid TOML"
    fi
    local root
    for root in "${FIRMWARE_ROOTS[@]}"; do
        grep -q -- "-----BEGIN CERTIFICATE-----" "$root" 2>/dev/null || die "$root is not a PEM certificate"
    done
    version=$(new_version)
    [ -n "$version" ] || die "cannot tell the version to install"
    previous=$(current_release)
    say "installing chargepi $version${previous:+ (now running: $previous)} into ${ROOT:-/}"
    check_python
    ensure_user
    build_release "$OPT/releases/$version"
    if [ -n "$FIRST_CONFIG" ] && [ ! -e "$ETC/chargepi.toml" ] &&
            ! as_service_user "$OPT/releases/$version/bin/chargepi" config validate "$FIRST_CONFIG"; then
        die "$FIRST_CONFIG is not a valid configuration (see above); nothing was changed"
    fi
    install_config
    # The firmware installer adds releases and switches `current` itself: /opt/chargepi is its own.
    chown -R "$(uid_of "$UPDATE_USER"):$(gid_of "$UPDATE_USER")" "$OPT"
    switch_to "$version"
    install_system_files
    if start_service; then
        prune_releases "$version" "$previous"
        if [ "$START" = 0 ]; then
            say "chargepi $version is installed; it starts at the next boot"
            return 0
        fi
        say "chargepi $version is running"
        if [ -z "$previous" ]; then
            say "next: sudo chargepi config set station.serial_number ...; sudo chargepi selftest;" \
                "chargepi status --watch (docs/technician-guide.md)"
        fi
        return 0
    fi
    if [ -n "$previous" ] && [ "$previous" != "$version" ]; then
        say "chargepi $version did not start; rolling back to $previous"
        switch_to "$previous"
        "$SYSTEMCTL" restart chargepi.service || true
        if healthy; then
            say "rolled back: chargepi $previous is running again (see: journalctl -u chargepi)"
        else
            say "rolled back to $previous, but it does not start either (see: journalctl -u chargepi)"
        fi
    else
        say "chargepi $version did not start (see: journalctl -u chargepi -n 50)"
    fi
    exit 1
}

uninstall() {
    if [ "$START" = 1 ] && [ -e "$UNIT" ]; then
        "$SYSTEMCTL" disable --now chargepi-update.path chargepi-update.service chargepi.service \
            >/dev/null 2>&1 || true
    fi
    local unit
    for unit in $UPDATE_UNITS; do rm -f "$(dirname "$UNIT")/$unit"; done
    rm -f "$UNIT" "$UDEV_RULE" "$LINK" "$COMPLETION"
    rm -rf "$OPT"
    [ "$START" = 1 ] && "$SYSTEMCTL" daemon-reload
    if [ "$PURGE" = 1 ]; then
        rm -rf "$ETC" "$STATE" "$UPDATE_STATE"
        if user_exists; then userdel "${ACCOUNT_ROOT[@]}" "$USER_NAME"; fi
        if user_exists "$UPDATE_USER"; then userdel "${ACCOUNT_ROOT[@]}" "$UPDATE_USER"; fi
        local group
        for group in $ROLE_GROUPS; do
            if group_exists "$group"; then groupdel "${ACCOUNT_ROOT[@]}" "$group"; fi
        done
        say "removed chargepi, its configuration, its records, the users $USER_NAME and $UPDATE_USER" \
            "and the groups ${ROLE_GROUPS// / and }"
    else
        say "removed chargepi; kept $ETC, $STATE and $UPDATE_STATE (remove them with --uninstall --purge)"
    fi
}

case "$ACTION" in
    uninstall) uninstall ;;
    *) install_or_upgrade ;;
esac
