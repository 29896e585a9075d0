"""CPython's own asyncio tests that take a selector, run against iomux's classes.

From the interpreter's test.test_asyncio (never copied): the event loop suite of
test_events (sockets, pipes, ptys, signals, subprocesses, TLS, UDP, servers), the
low-level socket calls of test_sock_lowlevel, and test_sendfile. CPython runs each on
asyncio.SelectorEventLoop(selectors.XSelector()); here on the same loop over an iomux class.

    python3 tests/python/test_asyncio_cpython.py [--selector NAME] [-v]
"""
import asyncio

from test.test_asyncio import test_events, test_sendfile, test_sock_lowlevel
from test.test_asyncio import utils as test_utils

import iomux_testing

SUITES = {
    "events": (test_events.UnixEventLoopTestsMixin, test_events.SubprocessTestsMixin),
    "sock_lowlevel": (test_sock_lowlevel.BaseSockTestsMixin,),
    "sendfile": (test_sendfile.SendfileTestsBase,),
}


def make_cases(name, cls):
    def create_event_loop(self):
        return asyncio.SelectorEventLoop(cls())

    tag = name.replace("-", "_")
    return [type(f"{cls.__name__}_{tag}_{suite}", mixins + (test_utils.TestCase,),
                 {"create_event_loop": create_event_loop})
            for suite, mixins in SUITES.items()]


def tearDownModule():
    # As the suites' own modules do: leave no policy (and child watcher) behind.
    asyncio.set_event_loop_policy(None)


if __name__ == "__main__":
    iomux_testing.main(make_cases)
