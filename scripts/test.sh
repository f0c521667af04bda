#!/usr/bin/env bash
# The README's test command: sets up everything a fresh Debian machine with only Python 3.11+ and pip
# lacks, then runs the whole suite in parallel and the linters. Safe to run again: what is already
# there is not installed twice.
#
#   bash scripts/test.sh [pytest arguments…]      (TEST_WORKERS=N sets the pytest-xdist workers, default 6)
set -euo pipefail
cd "$(dirname "$0")/.."

# 1. System packages the tests drive, installed only when missing (Debian, as root, non-interactive):
#    chromium (the status page in a real browser), prometheus (promtool checks the alerting rules),
#    postgresql (the tests start a throwaway server of their own: initdb + pg_ctl, which Debian keeps
#    in /usr/lib/postgresql/*/bin), a Korean font (the page's screenshot shows Hangul, not boxes),
#    zsh (its completion script is checked with `zsh -n`) and gettext (msgfmt checks the catalogs).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
{ command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; } \
    || missing+=(postgresql)
{ command -v fc-list >/dev/null 2>&1 && fc-list :lang=ko | grep -q .; } || missing+=(fonts-nanum)
command -v zsh >/dev/null 2>&1 || missing+=(zsh)  # `zsh -n` checks the zsh completion script
command -v msgfmt >/dev/null 2>&1 || missing+=(gettext)  # msgfmt --check-format checks the catalogs
if [ "${#missing[@]}" -gt 0 ]; then
    as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            as_root=(sudo)
        else
            echo "scripts/test.sh: the tests need the Debian packages ${missing[*]}, and installing them" \
                "needs root: run this script as root, or install them first (apt-get install -y" \
                "${missing[*]}), then run it again." >&2
            exit 2
        fi
    fi
    echo "scripts/test.sh: installing ${missing[*]} (apt-get)" >&2
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        "${missing[@]}"
fi

# 2. The project in its own virtual environment, with the test extra.
[ -x .venv/bin/python ] || python3 -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e '.[test]'

# 3. The whole suite, in parallel (6 workers on 2 cores: most of it waits on real daemons and timeouts),
#    then the type check (mypy with the pydantic plugin, configured in pyproject.toml) and the linters.
#    `--maxschedchunk 1`: pytest-xdist hands each worker two tests at the start and one more as each
#    ends, so the long poles (put first by tests/conftest.py) start at once on different workers
#    instead of queueing in the first worker's batch.
#    mypy runs beside the suite (one process, most of the suite waits on daemons and timeouts), its
#    report printed after the suite's; either failing fails the command.
mypy_log=$(mktemp)
python -m mypy >"$mypy_log" 2>&1 &
mypy_pid=$!
suite=0
python -m pytest -n "${TEST_WORKERS:-6}" --dist load --maxschedchunk 1 "$@" || suite=$?
typed=0
wait "$mypy_pid" || typed=$?
cat "$mypy_log"
rm -f "$mypy_log"
[ "$suite" -eq 0 ] || exit "$suite"
[ "$typed" -eq 0 ] || exit "$typed"
ruff check .
ruff format --check .
