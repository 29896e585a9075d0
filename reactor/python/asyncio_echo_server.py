"""The benchmark's asyncio echo server: an asyncio Protocol on
asyncio.SelectorEventLoop(selector), the selector being the stdlib's or one of iomux's.

    python3 reactor/python/asyncio_echo_server.py --selector iomux [--port 8007]

--selector: `stdlib` (selectors.DefaultSelector: EpollSelector on Linux), `iomux`
(iomux.DefaultSelector: $IOMUX_BACKEND, else epoll), or a backend name for that iomux class
(`io_uring`, `poll`, `select`, `epoll`). It prints `listening on 127.0.0.1:PORT` (as the
project's C++ echo servers do) and serves until SIGINT or SIGTERM. iomux must be importable
(PYTHONPATH=build/reactor/python before `meson install`).
"""
import argparse
import asyncio
import resource
import selectors
import signal


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


def make_selector(name):
    if name == "stdlib":
        return selectors.DefaultSelector()
    import iomux
    return iomux.DefaultSelector() if name == "iomux" else iomux.selector_classes()[name]()


async def serve(port):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # A backlog past the client's connect window: a dropped SYN costs a 1 s retransmit.
    server = await loop.create_server(Echo, "127.0.0.1", port, backlog=4096)
    print(f"listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await stop.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--selector", default="iomux", help="stdlib, iomux, or an iomux backend name")
    parser.add_argument("--port", type=int, default=8007, help="0 picks one (printed)")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 11000 connections need it
    loop = asyncio.SelectorEventLoop(make_selector(args.selector))
    try:
        loop.run_until_complete(serve(args.port))
    finally:
        loop.close()


if __name__ == "__main__":
    main()
