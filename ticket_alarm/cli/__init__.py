"""The command line: one module per command (``cli/<command>.py``: ``NAME``, ``HELP``,
``add_arguments(parser)``, ``run(args) -> int``), a parser built from their list, one dispatch.
The wiring they run on is ``ticket_alarm.app``'s."""

from __future__ import annotations

import argparse
import asyncio
import codecs
import contextlib
import difflib
import importlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

from loguru import logger

from ticket_alarm import __version__, i18n
from ticket_alarm.cli.base import EXIT_CONFIG, EXIT_FAIL, EXIT_INTERRUPTED, Command, load
from ticket_alarm.config.environ import CONFIG_ENV
from ticket_alarm.errors import ConfigError, StoreError, TicketAlarmError
from ticket_alarm.logs import redact, setup_logging

if TYPE_CHECKING:
    from ticket_alarm.config.settings import Settings

# The command modules, in --help's order. Module ``check_config`` is the command ``check-config``
# with the help text ``help.check_config`` (tests/cli/test_completion.py holds every module to it), so
# the parser can list every command without importing one: only the command that runs is imported,
# with what it needs (``--help`` and ``check-config`` never load the daemon, the web server or the
# PostgreSQL driver). The whole parser (completion, the docs' tests) imports them all.
COMMAND_MODULES = (
    "run",
    "once",
    "test_crawlers",
    "check_config",
    "completion",
    "send_test",
    "explain",
    "health",
    "upcoming",
    "backup",
    "restore",
    "history",
    "outbox",
    "show",
    "store",
)
ALL = "*"  # build_parser's ``chosen``: every command with its arguments


def command_name(module: str) -> str:
    return module.replace("_", "-")


def command(module: str) -> Command:
    """The command module ``module`` (imported now, if it was not)."""
    return cast(Command, importlib.import_module(f"ticket_alarm.cli.{module}"))


def build_parser(chosen: str | None = ALL) -> argparse.ArgumentParser:
    """The parser: every command listed; the arguments (and the module) of ``chosen`` only — a
    command name, None for none (``--help``), or ``ALL``."""
    i18n.localize_argparse()  # "usage:", "options" and argparse's error lines in the operator's language
    parser = argparse.ArgumentParser(prog="ticket-alarm", description=i18n.t("help.description"))
    parser.add_argument("--version", action="version", version=f"ticket-alarm {__version__}")
    config_help = i18n.t("help.config", env=CONFIG_ENV)
    parser.add_argument("--config", help=config_help)  # before the command: ticket-alarm --config x run
    parser.set_defaults(parser=parser)  # `completion` walks it
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        name = command_name(module)
        p = sub.add_parser(name, help=i18n.t(f"help.{module}"))
        if chosen not in (ALL, name):
            continue
        # SUPPRESS: an absent --config after the command keeps the one given before it
        p.add_argument("--config", default=argparse.SUPPRESS, help=config_help)
        loaded = command(module)
        loaded.add_arguments(p)
        p.set_defaults(run=loaded.run)
    return parser


def _command_word(argv: Sequence[str]) -> str | None:
    """The word of ``argv`` that names the command: the first that is not an option or --config's value."""
    tokens = iter(argv)
    for token in tokens:
        if token == "--config":
            next(tokens, None)
        elif not token.startswith("-"):
            return token
    return None


def _chosen(word: str | None) -> str | None:
    """Which command's arguments the parser needs: the one named; ``completion`` walks the whole parser."""
    return ALL if word == "completion" else word


def main(argv: Sequence[str] | None = None) -> int:
    _survive_narrow_streams()
    if problem := i18n.language_problem():  # before parsing: --help shows it too, as perl's locale warning
        print(problem, file=sys.stderr)
    word = _command_word(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_chosen(word))
    _command_typo(parser, word)
    args = parser.parse_args(argv)
    setup_logging(json_mode=bool(getattr(args, "json", False)))
    try:
        return int(args.run(args))
    except (ConfigError, StoreError) as exc:
        logger.error("{}", redact(str(exc)))
        return EXIT_CONFIG
    except TicketAlarmError as exc:
        logger.error("{}", redact(str(exc)))
        return EXIT_FAIL
    except KeyboardInterrupt:
        logger.warning("{}", _interrupted(args))
        return EXIT_INTERRUPTED


def _json_escape(error: UnicodeError) -> tuple[str, int]:
    """``\\uXXXX`` for what the stream cannot encode (a surrogate pair beyond the BMP): valid in a
    ``--json`` document, readable in a log line."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    out: list[str] = []
    for ch in error.object[error.start : error.end]:
        units = ch.encode("utf-16-be", "surrogatepass")
        out += [f"\\u{int.from_bytes(units[i : i + 2], 'big'):04x}" for i in range(0, len(units), 2)]
    return "".join(out), error.end


def _survive_narrow_streams() -> None:
    """``PYTHONIOENCODING=ascii`` (or a Latin-1 terminal) must not turn Korean output into a
    traceback: what a stream cannot encode is written as ``\\uXXXX``, as Python does on stderr."""
    codecs.register_error("ticket_alarm_escape", _json_escape)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and stream.errors in ("strict", "backslashreplace"):
            with contextlib.suppress(Exception):  # a stream replaced by a caller keeps its own rules
                reconfigure(errors="ticket_alarm_escape")


def _command_typo(parser: argparse.ArgumentParser, word: str | None) -> None:
    """A mistyped command (``ticket-alarm onec``): argparse's usage error, with the command it most
    likely meant (exit 2, as argparse's own errors)."""
    if word is None:
        return
    names = [n for a in parser._actions if isinstance(a, argparse._SubParsersAction) for n in a.choices]
    if word in names:
        return
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    if close:
        parser.error(i18n.t("cli.did_you_mean", command=word, close=close[0]))


async def _pending_alerts(settings: Settings) -> int:
    """The alerts waiting in the configured store, SQLite or PostgreSQL (read only: nothing created)."""
    from ticket_alarm import app

    store = await app.open_store(settings, readonly=True)
    try:
        return (await store.outbox_stats()).pending
    finally:
        await store.close()


def _interrupted(args: argparse.Namespace) -> str:
    """The one line Ctrl-C leaves: what was kept (every crawl commits in one transaction)."""
    if args.command in ("once", "run"):
        pending = "?"
        with contextlib.suppress(Exception):  # best effort: the interrupt may have hit anything
            settings = load(args).settings
            pending = str(asyncio.run(_pending_alerts(settings)))
        return i18n.t("cli.interrupted.run", pending=pending)
    return i18n.t("cli.interrupted.other", command=args.command)


if __name__ == "__main__":
    sys.exit(main())
