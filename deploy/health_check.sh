#!/usr/bin/env bash
# Nagios/cron wrapper around `python -m ticket_alarm health`.
#
#   health_check.sh [--config PATH] [--python PATH] [--notify] [--json] [--no-probe]
#                   [--timeout SECONDS] [--log FILE]
#
# Prints the check's output (first line: the overall state, then one `STATUS name: detail` line per
# check) and exits with its code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. Anything that keeps the
# check from answering (python missing, a timeout, a crash) is UNKNOWN (3) with one line saying why.
# --log FILE also appends the output, time-stamped, to FILE (cron uses it; logrotate rotates it).
set -u

CONFIG="${TICKET_ALARM_CONFIG:-/etc/ticket-alarm/config.json}"
PYTHON="/opt/ticket-alarm/venv/bin/python"
TIMEOUT=60
LOG=""
EXTRA=()

usage() {
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
        --config) CONFIG="${2:?--config needs a path}"; shift 2 ;;
        --python) PYTHON="${2:?--python needs a path}"; shift 2 ;;
        --timeout) TIMEOUT="${2:?--timeout needs seconds}"; shift 2 ;;
        --log) LOG="${2:?--log needs a file}"; shift 2 ;;
        --notify|--json|--no-probe) EXTRA+=("$1"); shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "UNKNOWN health_check: unknown option $1 (see --help)"; exit 3 ;;
    esac
done

log() {
    [ -n "$LOG" ] || return 0
    local stamp
    stamp="$(date '+%Y-%m-%d %H:%M:%S')"
    printf '%s\n' "$1" | sed "s/^/$stamp /" >>"$LOG" 2>/dev/null || true
}

if [ ! -x "$PYTHON" ]; then
    line="UNKNOWN health_check: python $PYTHON not found or not executable; pass --python PATH"
    echo "$line"
    log "$line"
    exit 3
fi

errfile="$(mktemp "${TMPDIR:-/tmp}/ticket-alarm-health.XXXXXX")"
trap 'rm -f "$errfile"' EXIT
if command -v timeout >/dev/null 2>&1; then
    out="$(timeout "$TIMEOUT" "$PYTHON" -m ticket_alarm health --config "$CONFIG" ${EXTRA[@]+"${EXTRA[@]}"} 2>"$errfile")"
else
    out="$("$PYTHON" -m ticket_alarm health --config "$CONFIG" ${EXTRA[@]+"${EXTRA[@]}"} 2>"$errfile")"
fi
code=$?
err="$(cat "$errfile")"

if [ "$code" -eq 124 ]; then
    out="UNKNOWN health_check: no answer within ${TIMEOUT}s"
    code=3
elif [ "$code" -gt 3 ] || [ -z "$out" ]; then
    last="$(printf '%s\n' "$err" | tail -n 1)"
    out="UNKNOWN health_check: the check exited with code $code without a report: ${last:-no output}"
    code=3
fi

printf '%s\n' "$out"
[ -n "$err" ] && printf '%s\n' "$err" >&2
log "$out"
[ -n "$err" ] && log "$err"
exit "$code"
