"""asyncio on iomux: an echo server (an asyncio Protocol) on
asyncio.SelectorEventLoop(<iomux selector>) that thousands of concurrent clients talk to,
every byte checked: 2000 clients on every class, 5000 on the select-backed one (10000 fds in
the loop, most past FD_SETSIZE, where the stdlib's SelectSelector raises ValueError).

    python3 tests/python/test_asyncio_echo.py [--selector NAME] [-v]
"""
import asyncio
import select
import unittest

import iomux_testing

MESSAGES = (b"This is the message. ", b"It will be sent ", b"in parts." * 200)
CONNECT_WINDOW = 256  # connects in flight: more would overflow the listen backlog
DEADLINE = 120.0  # seconds for a whole run; they take a few here


class EchoProtocol(asyncio.Protocol):
    def __init__(self, stats):
        self.stats = stats

    def connection_made(self, transport):
        self.transport = transport
        self.stats["open"] += 1
        self.stats["peak"] = max(self.stats["peak"], self.stats["open"])
        self.stats["max_fd"] = max(self.stats["max_fd"], transport.get_extra_info("socket").fileno())

    def data_received(self, data):
        self.transport.write(data)

    def connection_lost(self, exc):
        self.stats["open"] -= 1


async def echo_run(clients):
    """Every client connects, waits until all are connected, then sends each message and
    reads its echo back in full; returns the server's figures."""
    loop = asyncio.get_running_loop()
    stats = {"open": 0, "peak": 0, "max_fd": 0}
    server = await loop.create_server(lambda: EchoProtocol(stats), "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    window = asyncio.Semaphore(CONNECT_WINDOW)
    connected = 0
    all_connected = asyncio.Event()

    async def client():
        nonlocal connected
        async with window:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        connected += 1
        if connected == clients:
            all_connected.set()
        await all_connected.wait()
        try:
            for message in MESSAGES:
                writer.write(message)
                echoed = await reader.readexactly(len(message))
                if echoed != message:
                    raise AssertionError(f"echo differs: sent {len(message)} bytes, got {echoed[:40]!r}...")
        finally:
            writer.close()
            await writer.wait_closed()

    try:
        async with asyncio.timeout(DEADLINE):
            await asyncio.gather(*(client() for _ in range(clients)))
    finally:
        server.close()
        await server.wait_closed()
    return stats


def make_cases(name, cls):
    clients = 5000 if name == "select" else 2000

    class Case(unittest.TestCase):
        def test_echo(self):
            iomux_testing.raise_fd_limit()
            loop = asyncio.SelectorEventLoop(cls())
            try:
                stats = loop.run_until_complete(echo_run(clients))
            finally:
                loop.close()
            self.assertEqual(stats["peak"], clients, "every client connected at once")
            self.assertEqual(stats["open"], 0, "every connection closed")
            if clients > 1024:
                # The server's own sockets: 2 fds a client in this process, so most are high.
                self.assertGreater(stats["max_fd"], 2 * 1024)

        if name == "select":
            def test_stdlib_select_refuses_what_iomux_serves(self):
                # Why the select-backed class matters: the stdlib's SelectSelector cannot
                # wait on an fd at or past FD_SETSIZE (1024) at all.
                import selectors
                import socket
                iomux_testing.raise_fd_limit()
                pairs = [socket.socketpair() for _ in range(600)]
                try:
                    high = pairs[-1][1]
                    self.assertGreaterEqual(high.fileno(), 1024)
                    with selectors.SelectSelector() as stdlib:
                        stdlib.register(high, selectors.EVENT_WRITE)
                        with self.assertRaises(ValueError):
                            stdlib.select(0)
                    with cls() as ours:
                        key = ours.register(high, selectors.EVENT_WRITE)
                        self.assertEqual(ours.select(0), [(key, selectors.EVENT_WRITE)])
                finally:
                    for a, b in pairs:
                        a.close()
                        b.close()

    Case.__name__ = Case.__qualname__ = f"{cls.__name__}_{name.replace('-', '_')}_Echo{clients}"
    return [Case]


if __name__ == "__main__":
    iomux_testing.main(make_cases)
