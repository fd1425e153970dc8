#!/usr/bin/env python3
"""Checks the diagnostic shown in the "## Errors" section of a Markdown page.

The section shows kilnc's output in a plain ``` block, then "for this file:"
and the program in the next plain ``` block. This compiles that program
(saved under the file name the output shows) and exits 1 unless kilnc prints
exactly the shown text.

Usage: check_shown_diagnostic.py KILNC DOC.md WORKDIR
"""
import os
import re
import subprocess
import sys


def main():
    kilnc, doc, workdir = sys.argv[1:4]
    with open(doc, encoding="utf-8") as f:
        text = f.read()
    section = text[text.index("\n## Errors"):]
    match = re.search(r"^```\n(.*?)^```\n\s*for this file:\s*^```\n(.*?)^```",
                      section, re.M | re.S)
    if not match:
        sys.exit(f"{doc}: no shown diagnostic followed by 'for this file:'")
    shown, program = match.groups()
    name = shown.split(":", 1)[0]
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, name), "w", encoding="utf-8") as f:
        f.write(program)
    # Run from WORKDIR with the bare file name, as the shown output reads.
    result = subprocess.run([kilnc, name, "-o", os.devnull], cwd=workdir,
                            capture_output=True, text=True)
    if result.returncode != 1 or result.stderr != shown:
        sys.exit(f"{doc}: the shown diagnostic differs from kilnc's "
                 f"(exit {result.returncode}):\n{result.stderr}")
    print(f"shown diagnostic of {name} matches")


if __name__ == "__main__":
    main()
