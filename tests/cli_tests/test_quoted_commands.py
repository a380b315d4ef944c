"""Every ``loopml ...`` command that a message or a page quotes runs as printed.

Two layers: every quoted command in the source parses with the real CLI (right command path,
arity and options, placeholders filled in), and the ones that tell a user how to fix an error
are triggered for real, then run with the values the message printed, and do what they said.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.main import get_command
from typer.testing import CliRunner

import loopml
from loopml.cli import app

runner = CliRunner()
SRC = Path(__file__).resolve().parents[2] / "src" / "loopml"
# `loopml ...` in Python messages; <span class="mono">loopml ...</span> in templates.
# (``loopml ...`` with double backticks is a docstring's code literal naming a command, not a
# command printed for the user to run.)
_QUOTED = (
    re.compile(r"(?<!`)`(loopml [^`]+)`(?!`)"),
    re.compile(r'class="mono">(loopml [^<]+)<'),
)
# Words a message prints for the user to fill in (a file of theirs, a name to choose).
_PLACEHOLDERS = {
    "FILE": "guide.md",
    "NAME": "anna",
    "DATASET": "digits@1",
    "NAME@ALIAS": "digits-clf@champion",
    "VERSION": "1",
    "N": "2",
    "ADDRESS": "127.0.0.1:6379",
    "MODEL": "digits-clf",
    "URL": "http://127.0.0.1:8765",
}


def quoted_commands() -> list[tuple[str, str]]:
    """(where, command) for every command quoted in src/loopml (Python and templates)."""
    out = []
    for path in sorted(SRC.rglob("*")):
        if path.suffix not in (".py", ".html"):
            continue
        text = path.read_text(encoding="utf-8")
        for pattern in _QUOTED:
            for m in pattern.finditer(text):
                if m.group(1).endswith("..."):  # a docstring naming a command group
                    continue
                line = text.count("\n", 0, m.start()) + 1
                out.append((f"{path.relative_to(SRC)}:{line}", m.group(1)))
    return out


def _fill(command: str) -> list[str]:
    # f-string and Jinja fields stand for a real value (a project name, an id): use one word.
    # A field that holds a version number stands for one (``{{ v.version }}``, ``{version}``).
    text = re.sub(r"\{\{[^}]*version[^}]*\}\}|\{[^}]*version[^}]*\}", "1", command)
    text = re.sub(r"\{\{[^}]*\}\}|\{[^}]*\}", "value1", text)
    words = shlex.split(text)
    return [_PLACEHOLDERS.get(w, w) for w in words[1:]]


def _parse(args: list[str]) -> None:
    """Parse ``args`` the way ``loopml`` would, down to the leaf command, without running it.

    Raises the CLI's usage error (unknown command or option, missing or extra argument).
    """
    cmd: Any = get_command(app)  # Typer's own vendored Click: duck-typed, not click.Group
    ctx = cmd.make_context("loopml", list(args), resilient_parsing=False)
    while hasattr(cmd, "commands"):
        # Click keeps the subcommand's words apart (``_protected_args`` since 8.2).
        protected = getattr(ctx, "_protected_args", None)
        if protected is None:
            protected = ctx.protected_args
        name, sub, rest = cmd.resolve_command(ctx, [*protected, *ctx.args])
        assert sub is not None, f"no command {name!r}"
        cmd = sub
        ctx = sub.make_context(name or "", rest, parent=ctx)


def test_the_parser_check_rejects_wrong_commands() -> None:
    _parse(["label", "annotators", "add", "anna", "--project", "pets"])
    for bad in (
        ["label", "nosuch"],
        ["label", "guidelines", "publish", "guide.md", "--project", "pets"],  # --note missing
        ["runs", "list", "--nosuch"],
        ["runs", "show"],  # RUN_ID missing
    ):
        with pytest.raises(Exception, match=r"(?i)no such|missing"):
            _parse(bad)


def test_the_scan_finds_the_quoted_commands() -> None:
    found = {c for _, c in quoted_commands()}
    assert any(c.startswith("loopml label annotators add") for c in found)
    assert any(c.startswith("loopml runs list") for c in found)
    assert len(found) >= 8


@pytest.mark.parametrize(("where", "command"), quoted_commands())
def test_every_quoted_command_parses(where: str, command: str) -> None:
    try:
        _parse(_fill(command))
    except Exception as exc:  # the CLI's UsageError, from the Click that Typer ships
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        pytest.fail(f"{where}: `{command}` does not parse: {message}")


def _quoted(message: str) -> list[str]:
    commands = _QUOTED[0].findall(message)
    assert commands, f"no command quoted in: {message}"
    return commands


def _run(command: str, **fill: str) -> str:
    words = shlex.split(command)[1:]
    result = runner.invoke(app, [fill.get(w, w) for w in words], terminal_width=200)
    assert result.exit_code == 0, f"`{command}` failed: {result.output}"
    return result.output


def _dataset() -> str:
    frame = pd.DataFrame({"id": [f"i{k}" for k in range(6)], "x": range(6)})
    return loopml.datasets.create("tiny", frame).ref


def test_missing_labeling_project_message_runs(session: object) -> None:
    ref = _dataset()
    with pytest.raises(loopml.NotFoundError) as info:
        loopml.labeling.project("pets")
    listing, create = _quoted(str(info.value))
    _run(listing)
    _run(create + " --classes a,b", DATASET=ref)
    assert list(loopml.labeling.project("pets").classes) == ["a", "b"]


def test_missing_annotator_and_guideline_messages_run(session: object, tmp_path: Path) -> None:
    p = loopml.labeling.create_project("pets", _dataset(), classes=["a", "b"])
    with pytest.raises(loopml.NotFoundError) as info:
        p.next_items("anna")
    (command,) = _quoted(str(info.value))
    assert command == "loopml label annotators add anna --project pets"
    _run(command)
    # The annotator is anna; nothing is named after the project.
    assert [a["name"] for a in p.annotators()] == ["anna"]

    with pytest.raises(loopml.LoopmlError) as info2:
        p.guideline()
    (command,) = _quoted(str(info2.value))
    guide = tmp_path / "guide.md"
    guide.write_text("# Pets\n\nLabel the animal.\n")
    _run(command, FILE=str(guide))
    assert p.guideline().version == 1


def test_listing_commands_quoted_in_messages_run(session: object) -> None:
    for command in ("loopml runs list", "loopml datasets list", "loopml recover"):
        assert command in {c for _, c in quoted_commands()}
        _run(command)
