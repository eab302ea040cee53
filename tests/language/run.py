#!/usr/bin/env python3
"""Runs Smalltalk-level golden tests: each FILE.som is a class with a run method; the
expectations are comments in the file, in order:

    "expect: TEXT"            the next line of standard output is TEXT
    "expect-exit: N"          the process exits with status N (default 0)
    "expect-stderr: TEXT"     standard error contains TEXT (any number of these)
    "args: A B C"             program arguments (default none)
    "espell-flags: --x N"     options for espell run (before the program); relative
                              directories of a -cp there are taken from the repository
                              root (meson runs tests from the build directory), e.g.
                              "espell-flags: -cp lib/Json:lib/Http"

Usage: run.py [--virtualized] ESPELL FILE.som [FILE.som ...]   (exit status 1 when any test fails)
With --virtualized each program runs as the guest of a hypervisor (espell run --virtualized)
and must behave identically.
"""
import os
import re
import subprocess
import sys

EXPECT = re.compile(r'"expect: ?(.*?)"')
EXIT = re.compile(r'"expect-exit: *(-?\d+)"')
STDERR = re.compile(r'"expect-stderr: ?(.*?)"')
ARGS = re.compile(r'"args: *(.*?)"')
FLAGS = re.compile(r'"espell-flags: *(.*?)"')
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def resolve_class_path(flags):
    """Makes the relative directories of -cp options absolute, from the repository root."""
    flags = list(flags)
    for i in range(len(flags) - 1):
        if flags[i] in ("-cp", "--classpath"):
            flags[i + 1] = ":".join(d if os.path.isabs(d) else os.path.join(REPO_ROOT, d)
                                    for d in flags[i + 1].split(":"))
    return flags


def run_one(espell, path, mode_flags):
    with open(path, encoding="utf-8") as f:
        source = f.read()
    expected = EXPECT.findall(source)
    exits = EXIT.findall(source)
    exit_code = int(exits[0]) if exits else 0
    stderr_needles = STDERR.findall(source)
    args = ARGS.findall(source)
    flags = FLAGS.findall(source)
    argv = [espell, "run"] + mode_flags + resolve_class_path(flags[0].split() if flags else []) + [
        "-cp", os.path.dirname(os.path.abspath(path)), path]
    if args:
        argv += args[0].split()
    try:
        p = subprocess.run(argv, capture_output=True, timeout=900)  # meson enforces the real limit
    except subprocess.TimeoutExpired:
        return [f"{path}: timed out after 900 s"]
    out = p.stdout.decode("utf-8", "replace").splitlines()
    err = p.stderr.decode("utf-8", "replace")
    problems = []
    for i, want in enumerate(expected):
        got = out[i] if i < len(out) else "<no more output>"
        if got != want:
            problems.append(f"{path}: output line {i + 1}: expected {want!r} but got {got!r}")
            break
    if not problems and len(out) > len(expected):
        problems.append(f"{path}: unexpected output line {len(expected) + 1}: {out[len(expected)]!r}")
    if p.returncode != exit_code:
        problems.append(f"{path}: exit status {p.returncode}, expected {exit_code}")
    for needle in stderr_needles:
        if needle not in err:
            problems.append(f"{path}: standard error lacks {needle!r}")
    if problems and err:
        problems.append("  stderr:\n    " + "\n    ".join(err.splitlines()[:30]))
    return problems


def main():
    argv = sys.argv[1:]
    mode_flags = []
    if argv and argv[0] == "--virtualized":
        mode_flags = ["--virtualized"]
        argv = argv[1:]
    if len(argv) < 2:
        print(__doc__)
        return 2
    espell = argv[0]
    failed = 0
    for path in argv[1:]:
        problems = run_one(espell, path, mode_flags)
        if problems:
            failed += 1
            print("\n".join(problems))
        else:
            print(f"ok {os.path.basename(path)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
