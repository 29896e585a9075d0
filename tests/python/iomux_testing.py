"""What the Python tests share: which iomux selector classes to run, and how to run them.

Each test module takes `--selector NAME` (repeatable: `default` for iomux.DefaultSelector, or
a backend name from iomux.selector_classes()); without it, every class whose backend the
kernel allows. The rest of the command line goes to unittest. meson runs one module and one
class per test (tests/python/meson.build), so that a failure names both.
"""
import os
import resource
import sys
import unittest

import iomux

# meson test's code for "skipped".
EXIT_SKIP = 77


def selector_class(name):
    return iomux.DefaultSelector if name == "default" else iomux.selector_classes()[name]


def backend_of(name):
    return iomux.default_backend() if name == "default" else name


def raise_fd_limit():
    """The soft RLIMIT_NOFILE up to the hard one (20000 on the project's machines)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def parse_selectors(argv):
    """Takes the --selector options out of argv; returns the names, or exits 77 when none
    of those asked for can run here (a backend the kernel refuses)."""
    names, rest, i = [], [argv[0]], 1
    while i < len(argv):
        if argv[i] == "--selector" and i + 1 < len(argv):
            names.append(argv[i + 1])
            i += 2
        elif argv[i].startswith("--selector="):
            names.append(argv[i].split("=", 1)[1])
            i += 1
        else:
            rest.append(argv[i])
            i += 1
    argv[:] = rest
    asked = bool(names)
    names = names or ["default", *iomux.selector_classes()]
    unknown = [n for n in names if n != "default" and n not in iomux.selector_classes()]
    if unknown:
        sys.exit(f"no selector class for {unknown}: this build has {sorted(iomux.selector_classes())} and 'default'")
    available = set(iomux.available_backends())
    runnable = [n for n in names if backend_of(n) in available]
    for n in names:
        if n not in runnable:
            print(f"{n}: skipped, the kernel refuses the {backend_of(n)} backend here", file=sys.stderr)
    if asked and not runnable:
        sys.exit(EXIT_SKIP)
    return runnable


def main(make_cases, argv=None):
    """Runs the test cases make_cases(name, cls) returns for each selector asked for.

    make_cases returns TestCase classes; they are loaded by name into one suite, so that
    unittest's usual options (-v, -k, -f) apply."""
    argv = list(sys.argv if argv is None else argv)
    names = parse_selectors(argv)
    module = sys.modules["__main__"]
    for name in names:
        for case in make_cases(name, selector_class(name)):
            setattr(module, case.__name__, case)
    # Python's own os.environ must not steer DefaultSelector while the suite runs, unless
    # the caller set it on purpose (meson sets it per test).
    unittest.main(module=module, argv=argv)
