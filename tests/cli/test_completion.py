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
