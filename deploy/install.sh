#!/usr/bin/env bash
# Install HouseRules on a Raspberry Pi (Raspberry Pi OS bookworm) or any Debian-like system with
# systemd. Run it again to upgrade: your config and your data are kept.
#
#   sudo deploy/install.sh [options]
#
# Options (or the environment variable in brackets):
#   --root DIR           install under DIR instead of / [HOUSERULES_ROOT]. For tests: no user
#                        is created, nothing is started, the real system is left alone.
#   --prefix DIR         where the program goes [HOUSERULES_PREFIX] (default /opt/houserules)
#   --source DIR         the HouseRules source folder [HOUSERULES_SOURCE] (default: this one)
#   --python PATH        the Python 3.11+ to use [HOUSERULES_PYTHON] (default python3)
#   --wheelhouse DIR     install without internet from the wheels in DIR [HOUSERULES_WHEELHOUSE]
#   --site-packages DIR  reuse the packages installed in DIR instead of downloading any
#                        [HOUSERULES_SITE_PACKAGES]; for tests and offline machines
#   --with-proxy         also install the proxy addon (mitmproxy) [HOUSERULES_WITH_PROXY=1]
#   --with-postgres      also install the PostgreSQL driver (psycopg), for a box that shares
#                        its household with a second box [HOUSERULES_WITH_POSTGRES=1]; done
#                        anyway when the existing config's [store] url names PostgreSQL
#   --dhcp               switch HouseRules' own DHCP on, only once `houserules dhcp check`
#                        finds no other DHCP server on the network [HOUSERULES_DHCP=1]
#   --no-systemctl       install the units but do not reload, enable or start them
#                        [HOUSERULES_NO_SYSTEMCTL=1]
#   -h, --help           show this help
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ARGS="$*"
ROOT="${HOUSERULES_ROOT:-}"
PREFIX="${HOUSERULES_PREFIX:-/opt/houserules}"
SOURCE="${HOUSERULES_SOURCE:-$(dirname "$HERE")}"
PYTHON="${HOUSERULES_PYTHON:-python3}"
WHEELHOUSE="${HOUSERULES_WHEELHOUSE:-}"
SITE_PACKAGES="${HOUSERULES_SITE_PACKAGES:-}"
WITH_PROXY="${HOUSERULES_WITH_PROXY:-0}"
WITH_POSTGRES="${HOUSERULES_WITH_POSTGRES:-0}"
WITH_DHCP="${HOUSERULES_DHCP:-0}"
NO_SYSTEMCTL="${HOUSERULES_NO_SYSTEMCTL:-0}"
USER_NAME=houserules
CONFIG=/etc/houserules/config.toml
DATA=/var/lib/houserules

say() { printf 'houserules: %s\n' "$*"; }
die() { printf 'houserules: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT="${2:?--root needs a folder}"; shift 2 ;;
        --prefix) PREFIX="${2:?--prefix needs a folder}"; shift 2 ;;
        --source) SOURCE="${2:?--source needs a folder}"; shift 2 ;;
        --python) PYTHON="${2:?--python needs a program}"; shift 2 ;;
        --wheelhouse) WHEELHOUSE="${2:?--wheelhouse needs a folder}"; shift 2 ;;
        --site-packages) SITE_PACKAGES="${2:?--site-packages needs a folder}"; shift 2 ;;
        --with-proxy) WITH_PROXY=1; shift ;;
        --dhcp) WITH_DHCP=1; shift ;;
        --with-postgres) WITH_POSTGRES=1; shift ;;
        --no-systemctl) NO_SYSTEMCTL=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

absolute() { (cd "$1" 2>/dev/null && pwd) || die "$1 is not a folder"; }
SOURCE="$(absolute "$SOURCE")"
[ -n "$ROOT" ] && ROOT="$(mkdir -p "$ROOT" && absolute "$ROOT")"
[ -n "$WHEELHOUSE" ] && WHEELHOUSE="$(absolute "$WHEELHOUSE")"
[ -n "$SITE_PACKAGES" ] && SITE_PACKAGES="$(absolute "$SITE_PACKAGES")"
PYTHON_FOUND="$(command -v "$PYTHON" || true)"
[ -n "$PYTHON_FOUND" ] || die "$PYTHON not found: sudo apt install python3"
case "$PYTHON_FOUND" in /*) PYTHON="$PYTHON_FOUND" ;; *) PYTHON="$(absolute "$(dirname "$PYTHON_FOUND")")/$(basename "$PYTHON_FOUND")" ;; esac
# From here on, nothing may pick up Python modules from the folder we were started in.
cd /

R="${ROOT%/}"  # "" for the real system
REAL=0
[ -z "$R" ] && REAL=1
VENV="$R$PREFIX/venv"

# -- checks -----------------------------------------------------------------------------------
if [ ! -f "$SOURCE/pyproject.toml" ] || [ ! -d "$SOURCE/agent" ]; then
    die "$SOURCE is not the HouseRules source folder (use --source)"
fi
if [ "$REAL" = 1 ] && [ "$(id -u)" != 0 ]; then
    die "run me with sudo: sudo $0 $ARGS"
fi
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "HouseRules needs Python 3.11 or newer ($PYTHON is $("$PYTHON" -V 2>&1))"
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    if [ "$REAL" = 1 ] && command -v apt-get >/dev/null; then
        say "installing python3-venv"
        apt-get install -y python3-venv
    else
        die "Python's venv module is missing: sudo apt install python3-venv"
    fi
fi

# The compiled fast path (agent/dns/_fastpath.c) needs a C compiler and Python's headers. Without
# them pip leaves it out and HouseRules answers in Python: correct, about a third as fast.
if ! "$PYTHON" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null ||
    ! command -v cc >/dev/null; then
    if [ "$REAL" = 1 ] && command -v apt-get >/dev/null; then
        say "installing gcc and python3-dev, for the compiled fast path"
        apt-get install -y gcc python3-dev ||
            say "could not install them: HouseRules will answer in Python, more slowly"
    else
        say "no C compiler or Python headers: HouseRules will answer in Python, more slowly"
    fi
fi

# -- the user and the folders -----------------------------------------------------------------
OWN=0
if [ "$REAL" = 1 ]; then
    if ! id "$USER_NAME" >/dev/null 2>&1; then
        say "creating the system user $USER_NAME"
        useradd --system --user-group --home-dir "$DATA" --no-create-home \
            --shell /usr/sbin/nologin --comment "HouseRules" "$USER_NAME"
    fi
    OWN=1
else
    say "installing under $R: not creating the user $USER_NAME (the real system is left alone)"
fi
install -d -m 0755 "$R$PREFIX" "$R/etc/houserules" "$R/etc/systemd/system" "$R/usr/local/bin"
install -d -m 0750 "$R$DATA"
[ "$OWN" = 1 ] && chown "$USER_NAME:$USER_NAME" "$R$DATA"

# -- the program ------------------------------------------------------------------------------
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
# Build from a clean copy: pip leaves build/ and *.egg-info behind in the folder it builds.
tar -C "$SOURCE" --exclude=./.git --exclude=./.venv --exclude=./data --exclude=./build \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude=./config.toml -cf - . |
    tar -C "$STAGE" -xf -

if [ -x "$VENV/bin/python" ] &&
    "$VENV/bin/python" -I -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    say "upgrading $PREFIX"
else
    say "installing into $PREFIX"
    rm -rf "$VENV"
    # With --site-packages, pip and setuptools come from there too (the venv's own, older
    # setuptools would shadow them).
    "$PYTHON" -m venv ${SITE_PACKAGES:+--without-pip} "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input --upgrade)
if [ -n "$SITE_PACKAGES" ]; then
    site="$("$VENV/bin/python" -I -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    printf '%s\n' "$SITE_PACKAGES" >"$site/houserules-reuse.pth"
    PIP+=(--no-index --no-build-isolation --no-deps)
fi
[ -n "$WHEELHOUSE" ] && PIP+=(--no-index --find-links "$WHEELHOUSE")
# A box whose config already names PostgreSQL keeps its driver through every upgrade.
if [ -f "$R$CONFIG" ] && grep -Eq '^[[:space:]]*url[[:space:]]*=[[:space:]]*"postgres' "$R$CONFIG"; then
    WITH_POSTGRES=1
fi
extras=()
[ "$WITH_PROXY" = 1 ] && extras+=(proxy)
[ "$WITH_POSTGRES" = 1 ] && extras+=(postgres) && say "installing the PostgreSQL driver too"
TARGET="$STAGE"
[ ${#extras[@]} -gt 0 ] && TARGET="${STAGE}[$(IFS=,; echo "${extras[*]}")]"
"${PIP[@]}" "$TARGET" || die "installing the Python packages failed (see above)"
"$VENV/bin/houserules" --help >/dev/null || die "the installed houserules does not start"

# The lists, the app catalogue and the safe-search facts ship inside the package. Earlier
# versions copied blocklists/ here and linked it into site-packages: take both away.
rm -rf "$R$PREFIX/blocklists" "$R$PREFIX/docs" "$R$PREFIX/share"
old_link="$("$VENV/bin/python" -I -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/blocklists"
[ -L "$old_link" ] && rm -f "$old_link"
install -d -m 0755 "$R$PREFIX/docs" "$R$PREFIX/share"
[ -f "$STAGE/docs/raspberry-pi.md" ] && install -m 0644 "$STAGE/docs/raspberry-pi.md" "$R$PREFIX/docs/"
install -m 0644 "$STAGE/config.example.toml" "$R$PREFIX/share/config.example.toml"
install -m 0755 "$STAGE/deploy/uninstall.sh" "$R$PREFIX/uninstall.sh"
ln -sfn "$PREFIX/venv/bin/houserules" "$R/usr/local/bin/houserules"
"$VENV/bin/python" -I -c 'from agent.rules.catalog import load_catalog; from agent.rules.safesearch import load_safesearch
load_catalog(); load_safesearch()' || die "the installed HouseRules cannot read its app catalogue"

# -- the config: written once, then it is yours -----------------------------------------------
if [ -f "$R$CONFIG" ]; then
    say "keeping your config $CONFIG (new settings are described in $PREFIX/share/config.example.toml)"
else
    new="$STAGE/config.toml"
    {
        echo "# Written by deploy/install.sh from config.example.toml. Yours to change: running"
        echo "# the installer again keeps it. After a change: sudo systemctl restart houserules"
        sed -e '/^\[dns\]/,/^\[/ s|^listen = \["127\.0\.0\.1:5353"\]|listen = ["0.0.0.0:53", "[::]:53"]|' \
            -e "s|^url = \"sqlite:///data/houserules.db\"|url = \"sqlite:///$DATA/houserules.db\"|" \
            -e "s|^compiled_dir = \"data/index\"|compiled_dir = \"$DATA/index\"|" \
            -e "s|^tls_dir = \"data/tls\"|tls_dir = \"$DATA/tls\"|" \
            -e '/^\[dns\]/,/^\[/ s|^tls_listen = \[\]|tls_listen = ["0.0.0.0:853", "[::]:853"]|' \
            "$STAGE/config.example.toml"
    } >"$new"
    for expected in 'listen = \["0.0.0.0:53", "\[::\]:53"\]' "url = \"sqlite:///$DATA/" \
        "compiled_dir = \"$DATA/" "tls_dir = \"$DATA/" 'tls_listen = \["0.0.0.0:853"' 'shipped = "bypass.txt"'; do
        grep -q "^$expected" "$new" ||
            die "config.example.toml has changed shape ($expected): update deploy/install.sh"
    done
    "$VENV/bin/python" -I -c 'import sys; from agent import config; config.load(sys.argv[1])' "$new" ||
        die "the config written from config.example.toml does not load"
    install -m 0640 "$new" "$R$CONFIG"
    [ "$OWN" = 1 ] && chgrp "$USER_NAME" "$R$CONFIG"
    say "wrote $CONFIG (DNS on port 53 over IPv4 and IPv6, data in $DATA)"
fi

# -- DHCP, only when asked and only when no other DHCP server answers -----------------------------
if [ "$WITH_DHCP" = 1 ]; then
    if [ "$REAL" = 0 ]; then
        say "not looking for other DHCP servers under --root: [dhcp] stays off"
    elif "$VENV/bin/houserules" --config "$R$CONFIG" dhcp check; then
        sed -i '/^\[dhcp\]/,/^\[/ s/^enabled = false/enabled = true/' "$R$CONFIG"
        say "switched HouseRules' DHCP on in $CONFIG: check its range and router there"
    else
        say "[dhcp] stays off: switch the router's DHCP off first (the steps above), then run"
        say "this installer again with --dhcp"
    fi
fi

# -- the services -----------------------------------------------------------------------------
for unit in houserules.service houserules-proxy.service; do
    sed "s|/opt/houserules|$PREFIX|g" "$STAGE/deploy/$unit" >"$STAGE/$unit"
    install -m 0644 "$STAGE/$unit" "$R/etc/systemd/system/$unit"
done
say "installed the units houserules.service and houserules-proxy.service (the proxy stays off)"

if [ "$NO_SYSTEMCTL" = 1 ] || [ "$REAL" = 0 ]; then
    say "not starting anything (--no-systemctl or --root)"
    exit 0
fi
if ! command -v systemctl >/dev/null || [ ! -d /run/systemd/system ]; then
    say "systemd is not running here: start HouseRules yourself with"
    say "  sudo -u $USER_NAME $PREFIX/venv/bin/houserules --config $CONFIG run"
    exit 0
fi
systemctl daemon-reload
# Stop before upgrading the database, so the old version never sees the new schema.
systemctl stop houserules.service 2>/dev/null || true
runuser -u "$USER_NAME" -- "$VENV/bin/houserules" --config "$CONFIG" migrate ||
    say "the database upgrade failed (see above); HouseRules starts with the strictest rules"
systemctl enable houserules.service
systemctl restart houserules.service
systemctl try-restart houserules-proxy.service || true
# Give it a few seconds to answer before checking (it loads its lists first).
for _ in $(seq 1 20); do
    "$VENV/bin/python" -I - "$CONFIG" <<'PY' && break
import sys
from agent import config, doctor
cfg = config.load(sys.argv[1])
sys.exit(doctor.check_dns(cfg.dns.listen, timeout=0.5).ok is not True)
PY
    sleep 0.5
done
say "HouseRules is running. Checking the setup (run it again any time: sudo houserules doctor)"
"$VENV/bin/houserules" --config "$CONFIG" doctor || true
say "next: give this box a fixed address and set your router's DNS to it: $PREFIX/docs/raspberry-pi.md"
