"""Running tsgate's commands in this process, and checking the one-line error contract."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from typer.testing import CliRunner

from tsgate.cli import app

# Typer's runner keeps the streams apart: result.stdout holds the data, result.stderr the text for
# people, and result.output both as they were written.
runner = CliRunner()

# Python hides these outside __main__; a real process prints every other warning to stderr, where
# it would be one more line after a one-line error, so invoke records those.
HIDDEN_BY_DEFAULT = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def invoke(*args, input: bytes | str | None = None):
    """`tsgate ARGS`, each argument passed as str() (paths and numbers serve), with `input` on stdin.

    Returns click's Result with one more attribute, `shown_warnings`: the warnings a real run prints.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = runner.invoke(app, [str(a) for a in args], input=input)
    result.shown_warnings = [w for w in caught if not issubclass(w.category, HIDDEN_BY_DEFAULT)]
    return result


def describe(result) -> str:
    """What a failed assertion about `result` should show."""
    exception = None if isinstance(result.exception, SystemExit) else result.exception
    shown = "; ".join(f"{w.category.__name__}: {w.message}" for w in getattr(result, "shown_warnings", []))
    return (f"exit {result.exit_code}\nstderr: {result.stderr!r}\nstdout: {result.stdout[:500]!r}\n"
            f"exception: {exception!r}\nwarnings a real run prints: {shown or '(none)'}")


def assert_one_line_error(result, code: int = 2, pattern: str | None = None) -> None:
    """Exit `code` with exactly one line on stderr, 'Error: ' and a message (matching `pattern` when
    given); no traceback and no warning anywhere."""
    where = describe(result)
    assert result.exit_code == code, where
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and lines[0].strip() != "Error:", where
    assert "Traceback" not in result.output, where
    assert not getattr(result, "shown_warnings", []), where
    if pattern:
        assert re.search(pattern, result.stderr), f"message does not match {pattern!r}\n{where}"


def temp_files(folder: Path) -> list[str]:
    """Temporary files an atomic write may have left anywhere below `folder`."""
    return sorted(p.name for p in Path(folder).rglob("*") if p.name.endswith(".tmp"))
