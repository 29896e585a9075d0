"""asyncio echo throughput: the stdlib's selector against iomux's, one run, side by side.

First, select() alone, in this process: the time of one select(0) that returns R ready fds of
N registered (the fastest of 50), per ready fd, the stdlib's EpollSelector against iomux's
classes. It is what the selector adds to each event of a loop, without the loop.

Then the same asyncio echo server (asyncio_echo_server.py) runs on the stdlib's
DefaultSelector (EpollSelector), on iomux.DefaultSelector (epoll) and on iomux's io_uring
class, and stress_client drives each in sustained mode (closed loop: every connection keeps
one 64-byte message in flight), at 1000 and at 11000 connections. The servers take turns
within each round, so the machine's drift hits them alike; the figures are medians over the
rounds. Reported: messages/s, the ratio to the stdlib's, and the server's CPU per message.

Each configuration runs twice: with glibc's malloc as it comes, and with its heap kept for
large blocks (MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ in the server's environment).
asyncio reads with sock.recv(256 KiB), a new 256 KiB bytes object per read that is shrunk
to what arrived; glibc serves it with mmap and gives it back with munmap (a TLB shootdown on
the other core), which costs the server most of its time whatever the selector, until
something frees a block that large and glibc raises its threshold past it (growing a dict
past ~10000 entries does: asyncio's map of 11000 transports). The second set shows what the
selector itself changes.

    python3 reactor/python/benchmark.py build [--rounds 5] [--duration 3] [--conns 1000,11000]

Run it with the interpreter the module was built for (the one meson found); it puts
BUILD/reactor/python on the servers' PYTHONPATH and runs BUILD/tools/stress_client.
"""
import argparse
import json
import os
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SERVERS = {  # label: --selector of asyncio_echo_server.py
    "stdlib DefaultSelector": "stdlib",
    "iomux DefaultSelector": "iomux",
    "iomux io_uring": "io_uring",
}
MALLOC = {  # label: the server's extra environment
    "glibc defaults": {},
    "heap for 256 KiB": {"MALLOC_MMAP_THRESHOLD_": str(1 << 20), "MALLOC_TRIM_THRESHOLD_": str(8 << 20)},
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class Server:
    """asyncio_echo_server.py in a child process, stopped by its PID (SIGTERM, then SIGKILL)."""

    def __init__(self, build, selector, malloc_env):
        env = dict(os.environ, PYTHONPATH=os.path.join(build, "reactor", "python"), **malloc_env)
        env.pop("IOMUX_BACKEND", None)  # iomux.DefaultSelector: epoll
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "asyncio_echo_server.py"), "--selector", selector, "--port", "0"],
            stdout=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()  # the server raises its own fd limit first
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"server with --selector {selector} did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])

    def cpu(self):
        return cpu_seconds(self.proc.pid)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run_once(build, stress_client, selector, malloc_env, conns, duration):
    server = Server(build, selector, malloc_env)
    try:
        before = server.cpu()
        out = subprocess.run(
            [stress_client, "--port", str(server.port), "--conns", str(conns), "--mode", "sustained",
             "--duration", str(duration), "--json", "--no-progress"],
            capture_output=True, text=True, timeout=duration + 120)
        cpu = server.cpu() - before
    finally:
        server.stop()
    if out.returncode != 0:
        raise RuntimeError(f"stress_client failed ({out.returncode}) against {selector}: {out.stderr.strip()}")
    report = json.loads(out.stdout)
    messages = report["sustained"]["messages"]
    return {"msgs_per_s": report["sustained"]["msgs_per_s"], "p50_us": report["latency_us"]["p50"],
            # The connect stage is in it too (a small share at 5 s of traffic).
            "server_cpu_us_per_msg": cpu / messages * 1e6 if messages else None}


def select_alone(build):
    """Seconds per ready fd of one select(0), by (selector label, registered, ready)."""
    sys.path.insert(0, os.path.join(build, "reactor", "python"))
    import iomux
    selectors_ = {"stdlib DefaultSelector": selectors.DefaultSelector,
                  "iomux DefaultSelector": iomux.DefaultSelector,
                  "iomux io_uring": iomux.selector_classes()["io_uring"]}
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    pairs = [socket.socketpair() for _ in range(9000)]
    out = {}
    try:
        for registered, ready in ((1000, 10), (1000, 100), (1000, 1000), (9000, 100), (9000, 9000)):
            for label, cls in selectors_.items():
                with cls() as sel:
                    for i, (rd, wr) in enumerate(pairs[:registered]):
                        # Writers are always ready, readers never: `ready` of them ready.
                        if i < ready:
                            sel.register(wr, selectors.EVENT_WRITE, (None, None))
                        else:
                            sel.register(rd, selectors.EVENT_READ, (None, None))
                    best = float("inf")
                    for _ in range(50):
                        t = time.perf_counter()
                        n = len(sel.select(0))
                        best = min(best, time.perf_counter() - t)
                    assert n == ready, (label, n, ready)
                    out[(label, registered, ready)] = best / ready
    finally:
        for rd, wr in pairs:
            rd.close()
            wr.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build", help="the meson build directory")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds of traffic per run")
    parser.add_argument("--conns", default="1000,11000", help="comma-separated connection counts")
    parser.add_argument("--malloc", choices=["both", *MALLOC], default="both")
    parser.add_argument("--json", action="store_true", help="print every run as JSON too")
    args = parser.parse_args()
    stress_client = os.path.join(args.build, "tools", "stress_client", "stress_client")
    if not os.access(stress_client, os.X_OK):
        sys.exit(f"{stress_client} not found: build it first (ninja -C {args.build})")

    alone = select_alone(args.build)
    print("select(0) alone: ns per ready fd (the fastest of 50 calls)")
    print(f"{'registered':>10} {'ready':>6}  " + "  ".join(f"{label:>22}" for label in SERVERS))
    for registered, ready in sorted({(r, n) for _, r, n in alone}):
        print(f"{registered:>10} {ready:>6}  " + "  ".join(f"{alone[(label, registered, ready)] * 1e9:>22.0f}"
                                                          for label in SERVERS))
    print(flush=True)

    mallocs = list(MALLOC) if args.malloc == "both" else [args.malloc]
    runs = {}  # (malloc, conns, label) -> [result]
    for malloc in mallocs:
        for conns in (int(c) for c in args.conns.split(",")):
            for rnd in range(args.rounds):
                for label, selector in SERVERS.items():
                    result = run_once(args.build, stress_client, selector, MALLOC[malloc], conns, args.duration)
                    runs.setdefault((malloc, conns, label), []).append(result)
                    print(f"{malloc}, {conns} connections, round {rnd + 1}/{args.rounds}, {label}: "
                          f"{result['msgs_per_s']:.0f} msg/s", file=sys.stderr, flush=True)
                    time.sleep(1)  # let the previous run's sockets go

    print(f"asyncio echo server, stress_client sustained: 64-byte messages, one in flight per connection, "
          f"{args.duration:g} s a run, medians of {args.rounds}")
    print(f"{'malloc':<17} {'conns':>5}  {'selector':<22} {'msg/s':>7} {'range':>13} {'x stdlib':>8} "
          f"{'CPU us/msg':>10} {'p50 ms':>7}")
    for malloc, conns in sorted({(m, c) for m, c, _ in runs}, key=lambda mc: (mallocs.index(mc[0]), mc[1])):
        base = statistics.median(r["msgs_per_s"] for r in runs[(malloc, conns, "stdlib DefaultSelector")])
        for label in SERVERS:
            rs = runs[(malloc, conns, label)]
            rate = [r["msgs_per_s"] for r in rs]
            median = statistics.median(rate)
            cpu = statistics.median(r["server_cpu_us_per_msg"] for r in rs)
            p50 = statistics.median(r["p50_us"] for r in rs) / 1e3
            print(f"{malloc:<17} {conns:>5}  {label:<22} {median:>7.0f} {min(rate):>6.0f}-{max(rate):<6.0f} "
                  f"{median / base:>8.3f} {cpu:>10.1f} {p50:>7.1f}")
    if args.json:
        print(json.dumps([{"malloc": m, "conns": c, "selector": l, "runs": r} for (m, c, l), r in runs.items()],
                         indent=1))


if __name__ == "__main__":
    main()
