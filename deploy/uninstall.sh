#!/usr/bin/env bash
# Remove HouseRules. Your config (/etc/houserules) and data (/var/lib/houserules) are kept unless
# you add --purge. FIRST set your router's DNS back to what it was (usually "automatic"), or
# the devices in your home will lose the internet when this box stops answering.
#
#   sudo /opt/houserules/uninstall.sh [--purge]
#
# Options (or the environment variable in brackets):
#   --purge          also delete the config, the data (history, backups) and the user
#   --root DIR       uninstall from under DIR instead of / [HOUSERULES_ROOT] (for tests)
#   --prefix DIR     where the program is [HOUSERULES_PREFIX] (default /opt/houserules)
#   --no-systemctl   do not stop or disable the services [HOUSERULES_NO_SYSTEMCTL=1]
set -euo pipefail

ROOT="${HOUSERULES_ROOT:-}"
PREFIX="${HOUSERULES_PREFIX:-/opt/houserules}"
NO_SYSTEMCTL="${HOUSERULES_NO_SYSTEMCTL:-0}"
PURGE=0
USER_NAME=houserules

say() { printf 'houserules: %s\n' "$*"; }
die() { printf 'houserules: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --purge) PURGE=1; shift ;;
        --root) ROOT="${2:?--root needs a folder}"; shift 2 ;;
        --prefix) PREFIX="${2:?--prefix needs a folder}"; shift 2 ;;
        --no-systemctl) NO_SYSTEMCTL=1; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

R="${ROOT%/}"
REAL=0
[ -z "$R" ] && REAL=1
case "$PREFIX" in
    /?*/?* | /opt/*) ;;
    *) die "refusing to remove --prefix $PREFIX (expected something like /opt/houserules)" ;;
esac
[ "$REAL" = 1 ] && [ "$(id -u)" != 0 ] && die "run me with sudo"

UNITS=(houserules.service houserules-proxy.service)
if [ "$REAL" = 1 ] && [ "$NO_SYSTEMCTL" = 0 ] && command -v systemctl >/dev/null &&
    [ -d /run/systemd/system ]; then
    systemctl disable --now "${UNITS[@]}" 2>/dev/null || true
fi
for unit in "${UNITS[@]}"; do
    rm -f "$R/etc/systemd/system/$unit"
done
if [ "$REAL" = 1 ] && [ "$NO_SYSTEMCTL" = 0 ] && command -v systemctl >/dev/null &&
    [ -d /run/systemd/system ]; then
    systemctl daemon-reload
fi
link="$R/usr/local/bin/houserules"
if [ -L "$link" ] && [ "$(readlink "$link")" = "$PREFIX/venv/bin/houserules" ]; then
    rm -f "$link"
fi
rm -rf "$R$PREFIX"
say "removed the program ($PREFIX) and the services"

if [ "$PURGE" = 1 ]; then
    rm -rf "$R/etc/houserules" "$R/var/lib/houserules"
    if [ "$REAL" = 1 ] && id "$USER_NAME" >/dev/null 2>&1; then
        userdel "$USER_NAME" || say "could not remove the user $USER_NAME"
    fi
    say "removed the config, the data and the user"
else
    say "kept your config (/etc/houserules) and data (/var/lib/houserules): --purge removes them"
fi
say "if your router still hands out this box as DNS, set it back now, or the home has no internet"
