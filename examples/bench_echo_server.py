#!/usr/bin/env python3
"""Measures echo_server scaling out: throughput over --threads / --workers, memory per
idle connection.

  python3 examples/bench_echo_server.py BUILD throughput --conns 1000 11000 \
      --config "" "--threads 2" "--workers 2" --rounds 3
  python3 examples/bench_echo_server.py BUILD memory --backend epoll poll select --conns 11000 19000

throughput: the stress client in sustained closed-loop mode against the server; msg/s from
the client, CPU of the server (every process: the parent and its workers) and of the client
over the run. Rounds are interleaved config by config, so a noisy neighbour hits each alike;
medians are printed.

memory: the server's VmRSS with N idle connections (the stress client with one of them
carrying one message a second: it has no --active 0)
minus its VmRSS before any connection, divided by N. Kernel socket memory is not in RSS.

The server is BUILD/examples/echo_server unless --server says otherwise (any program that
speaks its protocol: --port 0 --backend NAME and a "listening on HOST:PORT" line).
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time


def proc_cpu_s(pid):
    """utime + stime of a live process, threads included, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


class Server:
    """An echo server process: the parent and, with --workers, its children."""

    def __init__(self, path, args):
        self.proc = subprocess.Popen([path, "--port", "0", *args], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            self.proc.kill()
            raise RuntimeError(f"{path} did not announce a port: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        self.pids = [self.proc.pid] + children(self.proc.pid)

    def cpu_s(self):
        return sum(proc_cpu_s(p) for p in self.pids)

    def rss_kib(self):
        return sum(rss_kib(p) for p in self.pids)

    def open_fds(self):
        return sum(open_fds(p) for p in self.pids)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            status = self.proc.wait()
        if status != 0:
            raise RuntimeError(f"server exited with status {status}")


def stress(args, port, conns, extra, duration):
    # RST instead of FIN, and several source addresses: tens of thousands of TIME_WAIT
    # sockets from earlier runs make connect()'s search for a free port take most of a minute.
    cmd = [args.stress, "--port", str(port), "--mode", "sustained", "--conns", str(conns),
           "--duration", str(duration), "--json", "--no-progress", "--abortive-close", "--source-addrs", "4", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def finish(client):
    out, _ = client.communicate(timeout=300)
    result = json.loads(out)
    if not result.get("ok"):
        raise RuntimeError(f"stress client failed: {result.get('errors')} {result.get('problems')}")
    return result


def throughput(args):
    print(f"{'conns':>6} {'server args':<26} {'msg/s':>9} {'server CPU s':>12} {'client CPU s':>12}  (medians of {args.rounds};"
          f" depth {args.depth}, client {' '.join(args.client_arg) or 'one thread'}, {args.duration} s)")
    for conns in args.conns:
        runs = {config: [] for config in args.config}
        for _ in range(args.rounds):
            for config in args.config:
                server = Server(args.server, ["--backend", args.backend, *config.split()])
                try:
                    cpu_before = server.cpu_s()
                    client = stress(args, server.port, conns, ["--depth", str(args.depth), *args.client_arg], args.duration)
                    result = finish(client)
                    cpu = server.cpu_s() - cpu_before
                finally:
                    server.stop()
                runs[config].append((result["sustained"]["msgs_per_s"], cpu, result["client_cpu_s"]))
        for config, samples in runs.items():
            med = [statistics.median(s[i] for s in samples) for i in range(3)]
            every = " ".join(f"{s[0]:.0f}" for s in samples)
            print(f"{conns:>6} {config or '(one loop)':<26} {med[0]:>9.0f} {med[1]:>12.2f} {med[2]:>12.2f}  [{every}]")
        sys.stdout.flush()


def memory(args):
    print(f"{'backend':<8} {'conns':>6} {'idle KiB':>9} {'with conns KiB':>14} {'bytes/conn':>10}  (median of {args.rounds})")
    for backend in args.backend:
        for conns in args.conns:
            per_conn, idle, loaded = [], [], []
            for _ in range(args.rounds):
                server = Server(args.server, ["--backend", backend, *args.server_arg])
                try:
                    fds_before, rss_before = server.open_fds(), server.rss_kib()
                    client = stress(args, server.port, conns, ["--active", "1", "--rate", "1"], args.hold)
                    deadline = time.monotonic() + 60
                    while server.open_fds() < fds_before + conns and time.monotonic() < deadline and client.poll() is None:
                        time.sleep(0.05)
                    if server.open_fds() < fds_before + conns:
                        raise RuntimeError(f"server holds {server.open_fds() - fds_before} of {conns} connections")
                    time.sleep(0.2)
                    rss = server.rss_kib()
                    finish(client)
                finally:
                    server.stop()
                idle.append(rss_before)
                loaded.append(rss)
                per_conn.append((rss - rss_before) * 1024 / conns)
            print(f"{backend:<8} {conns:>6} {statistics.median(idle):>9.0f} {statistics.median(loaded):>14.0f} "
                  f"{statistics.median(per_conn):>10.0f}")
            sys.stdout.flush()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("build", help="meson build directory")
    p.add_argument("--server", help="server binary (default BUILD/examples/echo_server)")
    p.add_argument("--stress", help="stress client (default BUILD/tools/stress_client/stress_client)")
    p.add_argument("--rounds", type=int, default=3)
    sub = p.add_subparsers(dest="what", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--conns", type=int, nargs="+", default=[1000, 11000])
    t.add_argument("--config", nargs="+", default=["", "--threads 2", "--workers 2"],
                   help="server arguments per configuration (quoted)")
    t.add_argument("--backend", default="epoll")
    t.add_argument("--duration", type=float, default=5)
    t.add_argument("--depth", type=int, default=1)
    t.add_argument("--client-arg", action="append", default=[], help="an extra stress client argument (repeatable)")
    m = sub.add_parser("memory")
    m.add_argument("--backend", nargs="+", default=["epoll", "poll", "select"])
    m.add_argument("--conns", type=int, nargs="+", default=[11000, 19000])
    m.add_argument("--hold", type=float, default=8, help="seconds the client keeps its connections (--duration)")
    m.add_argument("--server-arg", action="append", default=[], help="an extra server argument (repeatable)")
    args = p.parse_args()
    args.server = args.server or os.path.join(args.build, "examples", "echo_server")
    args.stress = args.stress or os.path.join(args.build, "tools", "stress_client", "stress_client")
    {"throughput": throughput, "memory": memory}[args.what](args)


if __name__ == "__main__":
    main()
