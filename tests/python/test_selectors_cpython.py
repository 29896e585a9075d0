"""CPython's own Lib/test/test_selectors.py, run unchanged against iomux's selector classes.

The suite is imported from the interpreter's `test` package (on Debian 12 it comes with
libpython3.11-testsuite), never copied: each iomux class becomes the SELECTOR of a test case
made of the suite's BaseSelectorTestCase and ScalableSelectorMixIn (one select() must return
~10000 ready fds, which the stdlib's SelectSelector is not even asked to do), and the epoll
class also gets the suite's epoll case (a regular file is refused with EPERM).

    python3 tests/python/test_selectors_cpython.py [--selector NAME] [-v]
"""
import unittest

from test import test_selectors

import iomux_testing


def make_cases(name, cls):
    if name == "epoll":
        bases = (test_selectors.EpollSelectorTestCase,)
    else:
        bases = (test_selectors.BaseSelectorTestCase, test_selectors.ScalableSelectorMixIn, unittest.TestCase)
    return [type(f"{cls.__name__}_{name.replace('-', '_')}_Test", bases, {"SELECTOR": cls})]


if __name__ == "__main__":
    iomux_testing.main(make_cases)
