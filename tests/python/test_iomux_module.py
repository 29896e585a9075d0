"""What CPython's suite does not ask of a selector but iomux's module promises: Python's
own errors with the errno, RuntimeError after close(), the GIL released while waiting and
the selector left alone meanwhile, cycles through keys collected, IOMUX_BACKEND, the class
list.

    python3 tests/python/test_iomux_module.py [--selector NAME] [-v]
"""
import errno
import gc
import os
import selectors
import socket
import tempfile
import threading
import time
import unittest
import weakref

import iomux

import iomux_testing

STDLIB_NAMES = {"EpollSelector", "PollSelector", "DevpollSelector", "SelectSelector", "KqueueSelector"}


class ModuleChecks:
    """Once, with the default selector's run (a mixin: unittest would run a TestCase here
    with every class's)."""

    def setUp(self):
        saved = os.environ.get("IOMUX_BACKEND")
        self.addCleanup(lambda: os.environ.__setitem__("IOMUX_BACKEND", saved) if saved is not None
                        else os.environ.pop("IOMUX_BACKEND", None))

    def test_selector_classes(self):
        classes = iomux.selector_classes()
        # Every backend of the build but the edge-triggered one, in the build's order.
        self.assertEqual(list(classes), [b for b in iomux.backend_names() if b != "epoll-et"])
        for backend, cls in classes.items():
            self.assertTrue(issubclass(cls, selectors.BaseSelector))
            self.assertNotIn(cls.__name__, STDLIB_NAMES)
            self.assertIs(getattr(iomux, cls.__name__), cls)
            if backend in iomux.available_backends():
                with cls() as sel:
                    self.assertEqual(sel.backend, backend)
        self.assertTrue(set(iomux.available_backends()) <= set(iomux.backend_names()))
        classes.clear()  # a copy: the module's list is untouched
        self.assertTrue(iomux.selector_classes())

    def test_default_selector_honours_iomux_backend(self):
        os.environ.pop("IOMUX_BACKEND", None)
        with iomux.DefaultSelector() as sel:
            self.assertEqual(sel.backend, "epoll")
        for backend in iomux.selector_classes():
            if backend in iomux.available_backends():
                os.environ["IOMUX_BACKEND"] = backend
                self.assertEqual(iomux.default_backend(), backend)
                with iomux.DefaultSelector() as sel:
                    self.assertEqual(sel.backend, backend)
        os.environ["IOMUX_BACKEND"] = "epoll-et"
        with self.assertRaisesRegex(ValueError, "edge-triggered"):
            iomux.DefaultSelector()
        os.environ["IOMUX_BACKEND"] = "kqueue"
        with self.assertRaisesRegex(ValueError, "names no backend"):
            iomux.DefaultSelector()


def make_cases(name, cls):
    class SelectorTests(unittest.TestCase):
        def make_socketpair(self):
            rd, wr = socket.socketpair()
            self.addCleanup(rd.close)
            self.addCleanup(wr.close)
            return rd, wr

        def selector(self):
            sel = cls()
            self.addCleanup(sel.close)
            return sel

        def test_errors_are_pythons(self):
            sel = self.selector()
            rd, wr = self.make_socketpair()
            with self.assertRaises(ValueError):
                sel.register(rd, 0)
            with self.assertRaises(ValueError):
                sel.register(rd, 4)
            with self.assertRaises(TypeError):
                sel.register(rd, 1.0)
            with self.assertRaises(ValueError):
                sel.register(object(), selectors.EVENT_READ)
            with self.assertRaises(ValueError):
                sel.register(2 ** 40, selectors.EVENT_READ)
            with self.assertRaises(KeyError):
                sel.get_key(2 ** 40)
            key = sel.register(rd, selectors.EVENT_READ, "a")
            # Unchanged events and data: the same key; bad events: ValueError, still registered.
            self.assertIs(sel.modify(rd, selectors.EVENT_READ, "a"), key)
            with self.assertRaises(ValueError):
                sel.modify(rd, 0)
            self.assertIs(sel.get_key(rd), key)
            with self.assertRaises(ValueError):
                sel.select(float("nan"))

        def kernel_errors_carry_the_errno(self):
            # Made a test on epoll only: the only backend that refuses fds at register time.
            sel = self.selector()
            with tempfile.TemporaryFile() as f:
                with self.assertRaises(PermissionError) as cm:
                    sel.register(f, selectors.EVENT_READ)
                self.assertEqual(cm.exception.errno, errno.EPERM)
                with self.assertRaises(KeyError):
                    sel.get_key(f)
            rd, wr = self.make_socketpair()
            closed = rd.fileno()
            sel.register(closed, selectors.EVENT_READ)
            rd.close()
            # The kernel refuses the change: the fd is unregistered (bpo-30014), OSError EBADF.
            with self.assertRaises(OSError) as cm:
                sel.modify(closed, selectors.EVENT_WRITE)
            self.assertEqual(cm.exception.errno, errno.EBADF)
            self.assertEqual(len(sel.get_map()), 0)

        def test_closed_selector(self):
            sel = cls()
            rd, wr = self.make_socketpair()
            sel.register(rd, selectors.EVENT_READ)
            mapping = sel.get_map()
            sel.close()
            sel.close()  # idempotent
            for call in (lambda: sel.register(wr, selectors.EVENT_WRITE), lambda: sel.modify(rd, selectors.EVENT_WRITE),
                         lambda: sel.select(0), lambda: sel.get_key(rd)):
                with self.assertRaises(RuntimeError):
                    call()
            with self.assertRaises(KeyError):
                sel.unregister(rd)
            self.assertEqual(len(mapping), 0)
            self.assertEqual(list(sel.get_map()), [])

        def test_wait_releases_the_gil(self):
            sel = self.selector()
            rd, wr = self.make_socketpair()
            sel.register(rd, selectors.EVENT_READ)
            counted = 0
            done = threading.Event()

            def count():
                nonlocal counted
                while not done.is_set():
                    counted += 1

            worker = threading.Thread(target=count)
            worker.start()
            try:
                time.sleep(0.05)
                before = counted
                self.assertEqual(sel.select(0.3), [])
                during = counted - before
            finally:
                done.set()
                worker.join()
            # Pure Python counting runs only while the GIL is free: it went on during the wait.
            self.assertGreater(during, 1000)

        def test_other_threads_read_but_do_not_change_a_waiting_selector(self):
            sel = self.selector()
            rd, wr = self.make_socketpair()
            key = sel.register(rd, selectors.EVENT_READ)
            result = []
            waiter = threading.Thread(target=lambda: result.append(sel.select(2)))
            waiter.start()
            try:
                deadline = time.monotonic() + 2
                while time.monotonic() < deadline:
                    try:
                        sel.register(wr, selectors.EVENT_WRITE)
                    except RuntimeError as e:
                        self.assertIn("another thread", str(e))
                        break
                    sel.unregister(wr)  # the waiter had not started waiting yet
                    time.sleep(0.01)
                else:
                    self.fail("register() was never refused during the wait")
                for call in (lambda: sel.unregister(rd), lambda: sel.modify(rd, selectors.EVENT_WRITE),
                             sel.close, lambda: sel.select(0)):
                    with self.assertRaises(RuntimeError):
                        call()
                self.assertIs(sel.get_key(rd), key)
                self.assertEqual(list(sel.get_map()), [rd.fileno()])
                wr.send(b"x")
            finally:
                waiter.join()
            self.assertEqual(result, [[(key, selectors.EVENT_READ)]])

        def test_a_cycle_through_keys_is_collected(self):
            # Key data that holds the selector, as asyncio's handles hold the loop that
            # holds it: once unreachable, the collector frees the whole cycle.
            rd, wr = self.make_socketpair()

            class Owner:
                pass

            owner = Owner()
            owner.sel = cls()
            owner.sel.register(rd, selectors.EVENT_READ, owner)
            owner.map = owner.sel.get_map()
            gone = weakref.ref(owner.sel)
            del owner
            gc.collect()
            self.assertIsNone(gone())

        def test_many_fds_in_one_select(self):
            # Every backend, select included, serves fds past FD_SETSIZE.
            iomux_testing.raise_fd_limit()
            sel = self.selector()
            pairs = [self.make_socketpair() for _ in range(1500)]
            keys = {sel.register(wr, selectors.EVENT_WRITE) for rd, wr in pairs}
            self.assertGreater(max(wr.fileno() for rd, wr in pairs), 2048)
            ready = sel.select(0)
            self.assertEqual({key for key, events in ready}, keys)
            self.assertTrue(all(events == selectors.EVENT_WRITE for key, events in ready))

    if iomux_testing.backend_of(name) == "epoll":
        SelectorTests.test_kernel_errors_carry_the_errno = SelectorTests.kernel_errors_carry_the_errno
    SelectorTests.__name__ = SelectorTests.__qualname__ = f"{cls.__name__}_{name.replace('-', '_')}_Module"
    cases = [SelectorTests]
    if name == "default":
        cases.append(type("ModuleTests", (ModuleChecks, unittest.TestCase), {}))
    return cases


if __name__ == "__main__":
    iomux_testing.main(make_cases)
