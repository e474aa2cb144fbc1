"""The command line checks its arguments and the source before registering a batch, ends a failure with a
one-line cause, shows defaults in its help, and starts the UI on workspace.yaml without the supersession warning.

These run ``main`` in-process: a rejected source never reaches Dagster, so they take well under a second.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from healthcare_assets.cli import SUPERSEDED_DEV_WARNING, _workspace_file, main
from healthcare_assets.config import Paths
from healthcare_assets_tests.dirty_input import binary_blob


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


def _bad_runs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    empty = tmp_path / "empty"
    empty.mkdir()
    untyped = tmp_path / "untyped"
    untyped.mkdir()
    (untyped / "scan.ndjson").write_bytes(binary_blob(2000))
    return {
        "wrong path": (["--source", "ndjson", "--path", str(tmp_path / "nope")], "no such folder"),
        "a file, not a folder": (["--source", "ndjson", "--path", str(untyped / "scan.ndjson")], "not a folder"),
        "empty folder": (["--source", "ndjson", "--path", str(empty)], "no *.ndjson or *.ndjson.gz files"),
        "nothing typed": (["--source", "ndjson", "--path", str(untyped)], "no file whose resource type"),
        "no path": (["--source", "ndjson"], "--source ndjson needs --path DIR"),
        "zero patients": (["--patients", "0"], "synthetic: patients must be between 1 and 10,000,000, got 0"),
        "rate out of range": (["--malformed-rate", "1.5"], "malformed_rate must be a probability"),
        "bad batch id": (["--batch-id", "../up"], "--batch-id: invalid batch id"),
        "unreachable server": (
            ["--source", "bulk", "--url", f"http://127.0.0.1:{_closed_port()}/fhir"],
            "cannot reach the FHIR server",
        ),
    }


def test_bad_arguments_leave_nothing_behind(data_home: Paths, tmp_path: Path, capsys) -> None:
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    before = sorted(p.name for p in dagster_home.iterdir())
    for label, (arguments, cause) in _bad_runs(tmp_path).items():
        assert main(["run", *arguments]) == 2, label
        captured = capsys.readouterr()
        last = captured.err.strip().splitlines()[-1]
        assert last.startswith("error: ") and cause in last, (label, captured.err)
        assert "Traceback" not in captured.err + captured.out, label
    assert not data_home.home.exists()  # no batch folder, no staging, no warehouse, no ledger
    assert sorted(p.name for p in dagster_home.iterdir()) == before  # no run, no partition storage


def test_verbose_shows_code_locations_not_messages(data_home: Paths, capsys) -> None:
    from healthcare_assets.cli import _parser

    args = _parser().parse_args(["run", "--verbose", "--patients", "0"])
    assert args.verbose is True
    assert main(["--verbose", "run", "--patients", "0"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "preflight.py" in err
    assert err.strip().splitlines()[-1].startswith("error: synthetic: patients must be")


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["run"], ["(default: 2000)", "(default: 42)", "(default: synthetic)", "(default: 0.0005)"]),
        (["audit", "show"], ["(default: 20)"]),
        (["ui"], ["(default: 3000)"]),
        (["batches", "delete"], ["BATCH"]),
    ],
)
def test_help_shows_defaults(command: list[str], expected: list[str], capsys) -> None:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for piece in expected:
        assert piece in text, (command, piece)


def test_ui_uses_the_workspace_file_and_silences_only_the_supersession_warning(tmp_path: Path) -> None:
    workspace = _workspace_file(tmp_path)
    assert workspace.name == "workspace.yaml" and "location_name: healthcare_assets" in workspace.read_text()
    # The decorator warns before the function runs; missing arguments then stop it at once.
    probe = (
        "import warnings\n"
        "from dagster._cli.dev import dev_command\n"
        "try:\n    dev_command.callback()\nexcept TypeError:\n    pass\n"
        "warnings.warn('another FutureWarning', FutureWarning)\n"
    )
    env = dict(os.environ, PYTHONWARNINGS=SUPERSEDED_DEV_WARNING)
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert "superseded" not in done.stderr, done.stderr
    assert "another FutureWarning" in done.stderr  # nothing else is silenced
    bare = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert "SupersessionWarning" in bare.stderr  # the warning the filter is for does exist
