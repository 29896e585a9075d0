#!/usr/bin/env python3
"""The stress client's benchmark (README.md): the material's 11000-connection scenario.

  python3 tools/stress_client/benchmark.py BUILD_DIR [--rounds 3] [--conns 11000]

A. stress_client --spawn-server epoll --json, ROUNDS times: connect through last reply,
   the client's CPU and the echo server's, the server's memory per connection.
B. In turn, ROUNDS times each, against a fresh echo_server --backend epoll: stress_client,
   floor_client (the same scenario with nothing but the syscalls) and the material's Python
   client (reference_client.py). The ratio is Python's time over ours. A fresh server (same
   binary, same flags) per run, because the 11000 sockets each run leaves in TIME_WAIT to
   the server's port would make the next run's connects to that port dearer.

Medians are printed, with every command line. Run it on an otherwise idle machine: the
figures are CPU-bound, and another process's load shows up in them directly.
"""

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def proc_cpu(pid):
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def run(cmd):
    """Runs cmd; returns (CompletedProcess, wall seconds, CPU seconds of the child)."""
    before = os.times()
    t0 = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    wall = time.monotonic() - t0
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    if done.returncode != 0:
        sys.exit(f'benchmark: {shlex.join(cmd)} exited {done.returncode}:\n{done.stdout}{done.stderr}')
    return done, wall, cpu


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('build')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--conns', type=int, default=11000)
    args = parser.parse_args()
    client = os.path.join(args.build, 'tools/stress_client/stress_client')
    floor = os.path.join(args.build, 'tools/stress_client/floor_client')
    server = os.path.join(args.build, 'examples/echo_server')
    reference = os.path.join(HERE, 'reference_client.py')
    conns = str(args.conns)

    # A: spawned server.
    cmd_a = [client, '--spawn-server', 'epoll', '--conns', conns, '--json']
    a = []
    for _ in range(args.rounds):
        d = json.loads(run(cmd_a)[0].stdout)
        a.append(dict(wall=d['wall_s'], connect=d['connect_wall_s'], client_cpu=d['client_cpu_s'],
                      server_cpu=d['server']['cpu_s'], peak_kib=d['server']['peak_rss_kib'],
                      per_conn=d['server']['rss_per_conn_bytes'],
                      stages=[(s['name'], s['cpu_s'], s.get('server_cpu_s', 0)) for s in d['stages']]))
    print(f'A. {shlex.join(cmd_a)}   (median of {args.rounds})')
    print(f"   connect through last reply {med(a, 'wall'):.3f} s (connect {med(a, 'connect'):.3f} s); "
          f"client CPU {med(a, 'client_cpu'):.3f} s, server CPU {med(a, 'server_cpu'):.3f} s; "
          f"server peak RSS {med(a, 'peak_kib') / 1024:.1f} MiB, {med(a, 'per_conn'):.0f} bytes per connection")
    print('   per stage, client/server CPU s: ' + ', '.join(
        f'{name} {statistics.median(r["stages"][i][1] for r in a):.3f}/{statistics.median(r["stages"][i][2] for r in a):.3f}'
        for i, (name, _, _) in enumerate(a[0]['stages'])))
    print(f"   walls: {[round(r['wall'], 3) for r in a]}")

    # B: three clients in turn, each against a fresh server.
    def commands(port):
        return {
            'stress_client': [client, '--port', port, '--conns', conns, '--json'],
            'floor_client': [floor, port, conns],
            'floor_client --uring': [floor, port, conns, '--uring'],
            'reference_client.py': ['python3', reference, '127.0.0.1', port, conns],
        }
    server_cmd = [server, '--backend', 'epoll', '--port', '0']
    b = {name: [] for name in commands('PORT')}
    for _ in range(args.rounds):
        for name in b:
            srv = subprocess.Popen(server_cmd, stdout=subprocess.PIPE, text=True)
            try:
                port = srv.stdout.readline().strip().rsplit(':', 1)[1]
                s0 = proc_cpu(srv.pid)
                done, wall, cpu = run(commands(port)[name])
                row = dict(process_wall=wall, process_cpu=cpu, server_cpu=proc_cpu(srv.pid) - s0)
            finally:
                srv.terminate()
                srv.wait()
            if name == 'stress_client':
                d = json.loads(done.stdout)
                row.update(scenario=d['wall_s'], cpu=d['client_cpu_s'])
            elif name.startswith('floor_client'):
                m = re.search(r'total ([\d.]+) s wall, ([\d.]+) s cpu', done.stdout)
                row.update(scenario=float(m.group(1)), cpu=float(m.group(2)))
            else:
                m = re.search(r'total ([\d.]+) s, CPU ([\d.]+) s', done.stderr)
                row.update(scenario=float(m.group(1)), cpu=float(m.group(2)))
            b[name].append(row)
    cmds = commands('PORT')
    print(f'\nB. each run against a fresh {shlex.join(server_cmd)}; in turn, {args.rounds} times each (medians):')
    for name, rows in b.items():
        print(f"   {name:20s} connect through last reply {med(rows, 'scenario'):.3f} s, process {med(rows, 'process_wall'):.3f} s; "
              f"client CPU {med(rows, 'cpu'):.3f} s, server CPU {med(rows, 'server_cpu'):.2f} s   "
              f"[{shlex.join(cmds[name][:1] + ['...'] if name != 'reference_client.py' else cmds[name][:2] + ['...'])}]")
    ours = med(b['stress_client'], 'scenario')
    print(f"   Python / stress_client: {med(b['reference_client.py'], 'scenario') / ours:.2f}x (scenario), "
          f"{med(b['reference_client.py'], 'process_wall') / med(b['stress_client'], 'process_wall'):.2f}x (process)")
    print(f"   stress_client / floor_client: {ours / med(b['floor_client'], 'scenario'):.2f}x wall, "
          f"{med(b['stress_client'], 'cpu') / med(b['floor_client'], 'cpu'):.2f}x CPU")
    print(f"   Python / floor_client --uring: {med(b['reference_client.py'], 'scenario') / med(b['floor_client --uring'], 'scenario'):.2f}x (scenario)")
    print(f"   commands: " + ' | '.join(shlex.join(c) for c in cmds.values()))
    print(f"   load average after: {open('/proc/loadavg').read().split()[0]}")


if __name__ == '__main__':
    main()
