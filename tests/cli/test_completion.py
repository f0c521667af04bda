"""``completion bash|zsh``: the scripts complete commands, actions and sites; an unknown shell is a
usage error."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.inprocess import run_main
from ticket_alarm import cli

pytestmark = pytest.mark.usefixtures("clean_env")  # tests/support/inprocess.py


def _bash_complete(script: Path, line: str) -> list[str]:
    words = line.split(" ")
    code = (
        f"source {script}; COMP_WORDS=({' '.join(repr(w) for w in words)}); "
        f'COMP_CWORD={len(words) - 1}; _ticket_alarm; printf "%s\\n" "${{COMPREPLY[@]}}"'
    )
    run = subprocess.run(["bash", "-c", code], capture_output=True, text=True, timeout=10)
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completion_completes_commands_actions_and_sites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_main(capsys, "completion", "bash")
    assert code == 0 and "complete -o default -F _ticket_alarm ticket-alarm" in out
    script = tmp_path / "ticket-alarm.bash"
    script.write_text(out, encoding="utf-8")
    assert "check-config" in _bash_complete(script, "ticket-alarm ")
    assert _bash_complete(script, "ticket-alarm hi") == ["history"]
    assert _bash_complete(script, "ticket-alarm history s") == ["search", "show", "stats"]
    assert _bash_complete(script, "ticket-alarm --config x.json h") == ["health", "history"]
    assert _bash_complete(script, "ticket-alarm test-crawlers me") == ["melon"]
    assert "--limit" in _bash_complete(script, "ticket-alarm history search --")
    assert "--no-probe" in _bash_complete(script, "ticket-alarm health --")


def test_zsh_completion_is_a_compdef_script(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "completion", "zsh")
    assert (
        code == 0 and out.startswith("#compdef ticket-alarm") and "compdef _ticket_alarm ticket-alarm" in out
    )
    assert "'history search' '--config --help --json --limit'" in out
    if shutil.which("zsh"):
        check = subprocess.run(["zsh", "-n"], input=out, capture_output=True, text=True, timeout=10)
        assert check.returncode == 0, check.stderr


def test_completion_for_an_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["completion", "fish"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err


# --- the parser lists every command and imports only the one that runs ---------------------------


def test_every_command_module_is_listed_under_its_name_and_help_key() -> None:
    package = Path(cli.__file__).parent
    modules = {p.stem for p in package.glob("*.py")} - {"__init__", "__main__", "base"}
    assert set(cli.COMMAND_MODULES) == modules
    for module in cli.COMMAND_MODULES:
        loaded = cli.command(module)
        assert (cli.command_name(module), f"help.{module}") == (loaded.NAME, loaded.HELP), module


def test_help_and_check_config_load_neither_the_daemon_nor_the_web_server(tmp_path: Path) -> None:
    import json
    import sys

    config = tmp_path / "config.json"
    config.write_text(json.dumps({"data_dir": str(tmp_path / "data")}), encoding="utf-8")
    code = (
        "import contextlib, io, sys\n"
        "from ticket_alarm import cli\n"
        "for argv in (['--help'], ['check-config', '--config', sys.argv[1]], ['once', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        cli.main(argv)\n"
        "    heavy = ('ticket_alarm.daemon.scheduler', 'ticket_alarm.web.server', 'aiohttp', 'psycopg')\n"
        "    heavy = sorted(m for m in heavy if m in sys.modules)\n"
        "    print(argv[0], heavy)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(config)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines == ["--help []", "check-config []", "once []"], run.stdout  # `once` loads them as it runs
