"""The command line: one module per command (``cli/<command>.py``: ``NAME``, ``HELP``,
``add_arguments(parser)``, ``run(args) -> int``), a parser built from their list, one dispatch.
The wiring they run on is ``ticket_alarm.app``'s."""

from __future__ import annotations

import argparse
import asyncio
import codecs
import contextlib
import difflib
import sys
from collections.abc import Sequence

from loguru import logger

from ticket_alarm import __version__, i18n
from ticket_alarm.cli import (
    backup,
    check_config,
    completion,
    explain,
    health,
    history,
    once,
    outbox,
    restore,
    run,
    send_test,
    show,
    store,
    test_crawlers,
    upcoming,
)
from ticket_alarm.cli.base import EXIT_CONFIG, EXIT_FAIL, EXIT_INTERRUPTED, Command, load
from ticket_alarm.config.environ import CONFIG_ENV
from ticket_alarm.config.settings import Settings
from ticket_alarm.errors import ConfigError, StoreError, TicketAlarmError
from ticket_alarm.logs import redact, setup_logging
from ticket_alarm.store import open_store

COMMANDS: tuple[Command, ...] = (
    run,
    once,
    test_crawlers,
    check_config,
    completion,
    send_test,
    explain,
    health,
    upcoming,
    backup,
    restore,
    history,
    outbox,
    show,
    store,
)


def build_parser() -> argparse.ArgumentParser:
    i18n.localize_argparse()  # "usage:", "options" and argparse's error lines in the operator's language
    parser = argparse.ArgumentParser(prog="ticket-alarm", description=i18n.t("help.description"))
    parser.add_argument("--version", action="version", version=f"ticket-alarm {__version__}")
    config_help = i18n.t("help.config", env=CONFIG_ENV)
    parser.add_argument("--config", help=config_help)  # before the command: ticket-alarm --config x run
    parser.set_defaults(parser=parser)  # `completion` walks it
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        p = sub.add_parser(command.NAME, help=i18n.t(command.HELP))
        # SUPPRESS: an absent --config after the command keeps the one given before it
        p.add_argument("--config", default=argparse.SUPPRESS, help=config_help)
        command.add_arguments(p)
        p.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    _survive_narrow_streams()
    if problem := i18n.language_problem():  # before parsing: --help shows it too, as perl's locale warning
        print(problem, file=sys.stderr)
    parser = build_parser()
    _command_typo(parser, list(sys.argv[1:] if argv is None else argv))
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


def _command_typo(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """A mistyped command (``ticket-alarm onec``): argparse's usage error, with the command it most
    likely meant (exit 2, as argparse's own errors)."""
    tokens = iter(argv)
    for token in tokens:
        if token == "--config":
            next(tokens, None)
            continue
        if token.startswith("-"):
            continue
        names = [n for a in parser._actions if isinstance(a, argparse._SubParsersAction) for n in a.choices]
        if token in names:
            return
        close = difflib.get_close_matches(token, names, n=1, cutoff=0.6)
        if close:
            parser.error(i18n.t("cli.did_you_mean", command=token, close=close[0]))
        return


async def _pending_alerts(settings: Settings) -> int:
    """The alerts waiting in data_dir's SQLite store (read only: nothing is created)."""
    store = open_store(settings.data_dir, readonly=True)
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
