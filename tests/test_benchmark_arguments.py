"""The benchmark scripts refuse bad arguments with a usage error (exit 2) before they start anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.parametrize(
    ("script", "arguments", "said"),
    [
        ("commands.py", ["--rounds", "-5"], "argument --rounds: -5 is too small: give 1 or more"),
        ("commands.py", ["--rounds", "0"], "argument --rounds: 0 is too small"),
        ("commands.py", ["--cameras", "0"], "argument --cameras: 0 is too small"),
        ("commands.py", ["--cameras", "abc"], "argument --cameras: 'abc' is not a whole number"),
        ("commands.py", ["--cameras", "8,"], "give comma-separated whole numbers, e.g. 8,16,32"),
        ("startup.py", ["--repeats", "0"], "argument --repeats: 0 is too small"),
        ("startup.py", ["--drop-seconds", "-1"], "argument --drop-seconds: -1 must be a number of 0 or more"),
        ("startup.py", ["--start-delay", "nan"], "argument --start-delay: nan must be a number of 0 or more"),
        ("timing.py", ["--seconds", "0"], "argument --seconds: 0 is too small: give a number above 0"),
        ("timing.py", ["--starts", "x"], "argument --starts: 'x' is not a whole number"),
        ("convert.py", ["--frames", "-1"], "argument --frames: -1 is too small"),
        ("preview.py", ["--seconds", "inf"], "argument --seconds: inf must be a number of 0 or more"),
    ],
)
def test_a_bad_argument_is_a_usage_error(script: str, arguments: list[str], said: str) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *arguments], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and said in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_the_command_benchmark_measures_both_sides() -> None:
    """A small run of benchmarks/commands.py: a row of round trips and ratios for each size, and CPU per message of
    both sides (the conductor's and its agents', the ROUTER's and its echoes'), read from the kernel's accounts (in
    clock ticks: a run this short may show 0 for a side)."""
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "commands.py"), "--cameras", "1,2", "--rounds", "20"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split() for line in result.stdout.splitlines() if line.split()[:1] in (["1"], ["2"])]
    assert [row[0] for row in rows] == ["1", "2"], result.stdout
    for row in rows:
        times = [float(value) for value in row[1:5] + row[7:9]]
        assert all(value > 0 for value in times), row
        assert row[5].endswith("x") and row[6].endswith("x"), row
        for cpu in row[9:11]:  # sender+answerers, µs per message: both measured here (Linux has the accounts)
            sender, answerers = (float(part) for part in cpu.split("+"))  # "?" (not measured) fails here
            assert sender >= 0 and answerers >= 0, row
