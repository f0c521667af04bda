#!/usr/bin/env bash
# Install or update ticket-alarm on a Linux box run by supervisor. Safe to run again (idempotent):
# existing users, the virtualenv and the config are kept; rendered files are rewritten only when
# their content changes.
#
#   sudo deploy/install.sh [options]
#
#   --prefix DIR          install under DIR instead of /, as the current user (no root needed, no user
#                         created, no chown; nothing outside DIR is touched — pip runs without a cache)
#   --user NAME           service user (default: ticket-alarm; with --prefix: the current user)
#   --no-user-create      the user must exist already (never runs useradd)
#   --python PATH         use this Python (with ticket_alarm importable) instead of creating the venv

#   --app-dir DIR         the ticket-alarm source checkout (default: the folder above this script)
#   --supervisor-conf P   where the program file goes (default: /etc/supervisor/conf.d/ticket-alarm.conf)
#   --no-reload           do not run `supervisorctl reread` / `update` afterwards
#   -h, --help            this text
#
# The service user must be able to run the venv's Python. A venv links to the Python that made it; one
# under /root/.pyenv is unreadable to other users, so a system install then uses /usr/bin/python3
# when the user can run it, else a copy of that Python in /opt/ticket-alarm/python (a static build
# only), and says which; when neither starts for the user it stops and says what to install.
#
# Layout (under --prefix when given):
#   /opt/ticket-alarm/venv            virtualenv with the app (pip install APP_DIR)
#   /opt/ticket-alarm/bin/health_check.sh
#   /usr/local/bin/ticket-alarm       launcher: python -m ticket_alarm with the installed config
#   /etc/ticket-alarm/config.json     the config (mode 600, owned by the service user; kept if present)
#   /var/lib/ticket-alarm/data        data_dir (SQLite store)      /var/lib/ticket-alarm/backups
#   /var/log/ticket-alarm             monitor.out.log, monitor.err.log, health.log, backup.log
#   /etc/supervisor/conf.d/ticket-alarm.conf, /etc/cron.d/ticket-alarm, /etc/logrotate.d/ticket-alarm
set -euo pipefail

PREFIX=""
SVC_USER=""
CREATE_USER=1
PYTHON_GIVEN=""
APP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUP_CONF=""
RELOAD=1

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: ERROR: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX="${2:?--prefix needs a folder}"; shift 2 ;;
        --user) SVC_USER="${2:?--user needs a name}"; shift 2 ;;
        --no-user-create) CREATE_USER=0; shift ;;
        --python) PYTHON_GIVEN="${2:?--python needs a path}"; shift 2 ;;
        --app-dir) APP_DIR="${2:?--app-dir needs a folder}"; shift 2 ;;
        --supervisor-conf) SUP_CONF="${2:?--supervisor-conf needs a path}"; shift 2 ;;
        --no-reload) RELOAD=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

if [ -n "$PREFIX" ]; then
    mkdir -p "$PREFIX"
    PREFIX="$(cd "$PREFIX" && pwd)"
fi
[ -f "$APP_DIR/ticket_alarm/__main__.py" ] || die "--app-dir $APP_DIR is not a ticket-alarm checkout"
TEMPLATES="$APP_DIR/deploy"

APP_HOME="$PREFIX/opt/ticket-alarm"
CONF_DIR="$PREFIX/etc/ticket-alarm"
CONFIG="$CONF_DIR/config.json"
STATE_DIR="$PREFIX/var/lib/ticket-alarm"
DATA_DIR="$STATE_DIR/data"
BACKUP_DIR="$STATE_DIR/backups"
LOG_DIR="$PREFIX/var/log/ticket-alarm"
SUP_CONF="${SUP_CONF:-$PREFIX/etc/supervisor/conf.d/ticket-alarm.conf}"
CRON_FILE="$PREFIX/etc/cron.d/ticket-alarm"
LOGROTATE_FILE="$PREFIX/etc/logrotate.d/ticket-alarm"
LAUNCHER="$PREFIX/usr/local/bin/ticket-alarm"

IS_ROOT=0
[ "$(id -u)" = 0 ] && IS_ROOT=1
if [ -z "$PREFIX" ] && [ "$IS_ROOT" = 0 ]; then
    die "installing into / needs root (sudo $0), or pass --prefix DIR"
fi
ME="$(id -un)"
if [ -n "$PREFIX" ]; then
    # a --prefix install is the current user's: nothing may be created or chowned outside DIR
    CREATE_USER=0
    IS_ROOT=0
    SVC_USER="${SVC_USER:-$ME}"
else
    SVC_USER="${SVC_USER:-ticket-alarm}"
fi

# --- the service user -------------------------------------------------------------------------
if id -u "$SVC_USER" >/dev/null 2>&1; then
    say "user $SVC_USER exists"
elif [ "$CREATE_USER" = 1 ]; then
    [ "$IS_ROOT" = 1 ] || die "creating user $SVC_USER needs root; or pass --no-user-create --user $(id -un)"
    useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
        --shell /usr/sbin/nologin "$SVC_USER"
    say "user $SVC_USER created"
else
    die "user $SVC_USER does not exist (--no-user-create given); create it or pick another --user"
fi
SVC_GROUP="$(id -gn "$SVC_USER")"
if [ -n "$PREFIX" ] && [ "$SVC_USER" != "$ME" ]; then
    die "--prefix installs as the current user ($ME); --user $SVC_USER needs a system install (sudo, no --prefix)"
fi

own() { if [ "$IS_ROOT" = 1 ]; then chown "$1" "$2"; fi; }  # chown needs root; a --prefix test has none

make_dir() {  # mode owner path
    mkdir -p "$3"
    chmod "$1" "$3"
    own "$2" "$3"
}

make_dir 755 root:root "$APP_HOME"
make_dir 755 root:root "$APP_HOME/bin"
make_dir 750 "root:$SVC_GROUP" "$CONF_DIR"
make_dir 750 "$SVC_USER:$SVC_GROUP" "$STATE_DIR"
make_dir 750 "$SVC_USER:$SVC_GROUP" "$DATA_DIR"
make_dir 700 "$SVC_USER:$SVC_GROUP" "$BACKUP_DIR"
make_dir 750 "$SVC_USER:$SVC_GROUP" "$LOG_DIR"
for d in "$(dirname "$SUP_CONF")" "$(dirname "$CRON_FILE")" "$(dirname "$LOGROTATE_FILE")" \
    "$(dirname "$LAUNCHER")"; do
    mkdir -p "$d"
done
say "directories ready under ${PREFIX:-/}"

# --- python -------------------------------------------------------------------------------------
as_service_user() {  # run "$@" as the service user (directly when that is who we are)
    if [ "$SVC_USER" = "$ME" ]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u "$SVC_USER" -- "$@"
    else
        su -s /bin/sh "$SVC_USER" -c "$(printf '%q ' "$@")"
    fi
}

service_user_runs() {  # PYTHON: can the service user start it (3.11 or later, with ssl and sqlite3)?
    as_service_user "$1" -c 'import sys, ssl, sqlite3; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
        >/dev/null 2>&1
}

base_python() {  # a Python 3.11+ the service user can run, to build the venv from
    local candidate real prefix
    candidate="$(command -v python3 || true)"
    [ -n "$candidate" ] || die "no python3 on PATH; install Python 3.11 or later"
    real="$("$candidate" -c 'import sys; print(getattr(sys, "_base_executable", "") or sys.executable)')"
    if service_user_runs "$real"; then
        printf '%s\n' "$real"
        return
    fi
    for candidate in /usr/bin/python3 /usr/local/bin/python3; do
        if [ -x "$candidate" ] && service_user_runs "$candidate"; then
            say "python3 ($real) is not runnable by $SVC_USER; using $candidate" >&2
            printf '%s\n' "$candidate"
            return
        fi
    done
    # e.g. root's pyenv: copy that Python (without its site-packages) where the service user can read
    # it. A static build is relocatable; a shared one (RUNPATH into the old prefix) is not, and the
    # check below says so.
    prefix="$("$real" -c 'import sys; print(sys.base_prefix)')"
    if [ ! -x "$APP_HOME/python/bin/python3" ]; then
        rm -rf "$APP_HOME/python"
        mkdir -p "$APP_HOME/python"
        (cd "$prefix" && tar cf - --exclude='./lib/python3*/site-packages/*' .) | (cd "$APP_HOME/python" && tar xf -)
        chmod -R a+rX "$APP_HOME/python"
    fi
    if service_user_runs "$APP_HOME/python/bin/python3"; then
        say "python3 ($real) is not runnable by $SVC_USER; copied $prefix to $APP_HOME/python" >&2
        printf '%s\n' "$APP_HOME/python/bin/python3"
        return
    fi
    rm -rf "$APP_HOME/python"
    die "no Python 3.11+ that $SVC_USER can run: $real is not readable by $SVC_USER, /usr/bin/python3 is \
missing or older, and a copy of $prefix does not start for $SVC_USER (a shared-library build points \
back into $prefix). Install python3 (3.11 or later, e.g. apt-get install python3 python3-venv) \
system-wide and run this again, or pass --python PATH to a Python $SVC_USER can run."
}

if [ -n "$PYTHON_GIVEN" ]; then
    PY="$PYTHON_GIVEN"
    [ -x "$PY" ] || die "--python $PY is not executable"
    service_user_runs "$PY" || die "--python $PY cannot be run by $SVC_USER (a Python under another \
user's home, e.g. /root/.pyenv, is unreadable to it); pass a Python 3.11+ that $SVC_USER can run"
    "$PY" -c "import ticket_alarm" 2>/dev/null \
        || say "warning: $PY cannot import ticket_alarm in this environment (set PYTHONPATH for supervisord)"
    say "using $PY (no virtualenv created)"
else
    VENV="$APP_HOME/venv"
    if [ -x "$VENV/bin/python" ] && ! service_user_runs "$VENV/bin/python"; then
        say "the virtualenv's Python is not runnable by $SVC_USER: recreating $VENV"
        rm -rf "$VENV"
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        BASE_PY="$(base_python)"
        "$BASE_PY" -m venv "$VENV"
        say "virtualenv $VENV created from $BASE_PY"
    fi
    # no pip cache, and with --prefix a HOME/TMPDIR inside it: pip and the build tools it starts
    # write caches and settings into $HOME, which is outside the install
    if [ -n "$PREFIX" ]; then
        SCRATCH="$APP_HOME/.install-scratch"
        rm -rf "$SCRATCH" && mkdir -p "$SCRATCH"
        HOME="$SCRATCH" TMPDIR="$SCRATCH" XDG_CACHE_HOME="$SCRATCH/cache" PIP_NO_CACHE_DIR=1 \
            "$VENV/bin/pip" install --quiet --no-cache-dir --upgrade "$APP_DIR"
        rm -rf "$SCRATCH"
    else
        PIP_NO_CACHE_DIR=1 "$VENV/bin/pip" install --quiet --no-cache-dir --upgrade "$APP_DIR"
    fi
    PY="$VENV/bin/python"
    as_service_user "$PY" -c "import ticket_alarm" \
        || die "$SVC_USER cannot import ticket_alarm with $PY; see the messages above"
    say "ticket-alarm installed into $VENV"
fi

# --- the config (kept when present; always mode 600: it holds webhook tokens) ------------------
if [ -f "$CONFIG" ]; then
    say "config $CONFIG kept"
else
    "$PY" - "$CONFIG" "$DATA_DIR" "$LOG_DIR" <<'PYEOF'
import json
import os
import sys

path, data_dir, log_dir = sys.argv[1:4]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
with os.fdopen(fd, "w", encoding="utf-8") as fh:
    json.dump({"discord_webhook_url": None, "data_dir": data_dir, "log_dir": log_dir}, fh, indent=2)
    fh.write("\n")
PYEOF
    say "config $CONFIG written: put the Discord webhook URL into discord_webhook_url"
fi
chmod 600 "$CONFIG"
own "$SVC_USER:$SVC_GROUP" "$CONFIG"

# --- rendered files -------------------------------------------------------------------------------
esc() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

render() {  # template target mode
    local tmp
    tmp="$(mktemp "$2.XXXXXX")"
    # placeholders; and in health_check.sh the two default lines (the script also runs unrendered)
    sed -e "s|@PYTHON@|$(esc "$PY")|g" \
        -e "s|@CONFIG@|$(esc "$CONFIG")|g" \
        -e "s|@APP_HOME@|$(esc "$APP_HOME")|g" \
        -e "s|@STATE_DIR@|$(esc "$STATE_DIR")|g" \
        -e "s|@LOG_DIR@|$(esc "$LOG_DIR")|g" \
        -e "s|@USER@|$(esc "$SVC_USER")|g" \
        -e "s|@GROUP@|$(esc "$SVC_GROUP")|g" \
        -e "s|^CONFIG=\"\${TICKET_ALARM_CONFIG:-.*}\"$|CONFIG=\"\${TICKET_ALARM_CONFIG:-$(esc "$CONFIG")}\"|" \
        -e "s|^PYTHON=\".*\"$|PYTHON=\"$(esc "$PY")\"|" \
        "$1" >"$tmp"
    if grep -q '@[A-Z_]*@' "$tmp"; then
        rm -f "$tmp"
        die "$1: a placeholder was left unrendered"
    fi
    chmod "$3" "$tmp"
    if [ -f "$2" ] && cmp -s "$tmp" "$2"; then
        rm -f "$tmp"
        say "$2 unchanged"
    else
        mv "$tmp" "$2"
        say "$2 written"
    fi
}

render "$TEMPLATES/supervisor/ticket-alarm.conf" "$SUP_CONF" 644
render "$TEMPLATES/cron/ticket-alarm" "$CRON_FILE" 644
render "$TEMPLATES/logrotate/ticket-alarm" "$LOGROTATE_FILE" 644
render "$TEMPLATES/health_check.sh" "$APP_HOME/bin/health_check.sh" 755
render "$TEMPLATES/bin/ticket-alarm" "$LAUNCHER" 755

# --- supervisor ------------------------------------------------------------------------------------
if [ -z "$PREFIX" ] && [ "$RELOAD" = 1 ] && command -v supervisorctl >/dev/null 2>&1; then
    if ! { supervisorctl reread && supervisorctl update ticket-alarm; }; then
        say "warning: supervisorctl reread/update failed; is supervisord running?"
    fi
fi

cat <<EOF
install: done. Next:
  1. put the webhook into $CONFIG, then: ticket-alarm check-config
  2. sudo supervisorctl status ticket-alarm:monitor   (logs: $LOG_DIR/monitor.out.log, monitor.err.log)
  3. ticket-alarm health
EOF
