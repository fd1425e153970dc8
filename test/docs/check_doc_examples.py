#!/usr/bin/env python3
"""Checks the code examples of a Markdown document against kilnc.

Keeps docs/language.md true with the parser: every fenced block tagged
```kiln must compile (`kilnc --emit=kiln` exits 0), and every block tagged
```kiln-error must be rejected with the message its first line announces:

    ```kiln-error
    # error: cannot broadcast f32[N, 10] and f32[5]
    model M { ... }
    ```

Usage: check_doc_examples.py KILNC DOC.md WORKDIR
Prints one line per block and a closing count; exits 1 on any mismatch or
when the document has no examples at all (a check that cannot fail is none).
"""
import os
import re
import subprocess
import sys


def blocks(text):
    """Yields (kind, first_line_number, body) for each kiln / kiln-error fence."""
    pattern = re.compile(r"^```(kiln|kiln-error)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)
    for match in pattern.finditer(text):
        line = text.count("\n", 0, match.start()) + 2
        yield match.group(1), line, match.group(2)


def main():
    kilnc, doc, workdir = sys.argv[1:4]
    os.makedirs(workdir, exist_ok=True)
    with open(doc, encoding="utf-8") as f:
        text = f.read()
    failures = checked = 0
    for kind, line, body in blocks(text):
        checked += 1
        path = os.path.join(workdir, f"example_{line}.kiln")
        with open(path, "w", encoding="utf-8") as f:
            f.write(body)
        result = subprocess.run([kilnc, path, "--emit=kiln", "-o", os.devnull],
                                capture_output=True, text=True)
        where = f"{doc}:{line}"
        if kind == "kiln":
            if result.returncode != 0:
                failures += 1
                print(f"FAIL {where}: example does not compile:\n{result.stderr}")
            else:
                print(f"ok   {where}")
            continue
        expected = re.match(r"#\s*error:\s*(.*)", body.splitlines()[0] if body else "")
        if not expected:
            failures += 1
            print(f"FAIL {where}: kiln-error block must start with '# error: <message>'")
        elif result.returncode == 0:
            failures += 1
            print(f"FAIL {where}: example was accepted, expected error: {expected.group(1)}")
        elif expected.group(1).strip() not in result.stderr:
            failures += 1
            print(f"FAIL {where}: expected '{expected.group(1).strip()}', got:\n{result.stderr}")
        else:
            print(f"ok   {where} (rejected as documented)")
    print(f"{checked} examples checked, {failures} failed")
    if checked == 0 or failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
