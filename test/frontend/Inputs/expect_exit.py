#!/usr/bin/env python3
"""Runs a command and succeeds only if it exits with the given status.

Usage: expect_exit.py STATUS COMMAND [ARGS...]

The command's standard output and error pass through unchanged, so the result
can be piped into FileCheck. `not` only tells zero from non-zero; this pins
the status (kilnc exits 1 on a user error, and a crash shows as a signal).
"""
import subprocess
import sys


def main():
    expected = int(sys.argv[1])
    result = subprocess.run(sys.argv[2:])
    if result.returncode != expected:
        sys.stderr.write(f"expect_exit.py: '{sys.argv[2]}' exited with "
                         f"{result.returncode}, expected {expected}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
