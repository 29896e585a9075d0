#!/usr/bin/env python3
"""The material's 11000-socket client, kept as the reference for the benchmark.

As in the material: open COUNT blocking sockets, connect them one after another, then for
each of three messages send it on every socket, then read the reply on every socket.

Adapted only where the original cannot run as it stands:
  - host, port and count are arguments (the material hard-codes 192.168.16.130:9999, 11000);
  - it raises its own RLIMIT_NOFILE soft limit (11000 sockets do not fit in the usual 1024);
  - a reply is read until it is complete and compared with the message (the material's
    single recv(1024) may return part of it), so its work is the same as stress_client's;
  - the per-message prints are off unless -v is given: printing 66000 lines would be the
    benchmark's bottleneck, not the sockets.

Exit status 0 when every reply matched, 1 otherwise.

  python3 reference_client.py 127.0.0.1 9999 11000
"""

import argparse
import resource
import socket
import sys
import time

MESSAGES = [b'This is the message. ', b'It will be sent ', b'in parts.']


def raise_fd_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            sys.exit(f'reference_client: {needed} open files needed, the hard limit is {hard}')
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('host')
    parser.add_argument('port', type=int)
    parser.add_argument('count', type=int, nargs='?', default=11000)
    parser.add_argument('-v', '--verbose', action='store_true', help="print every send and reply, as the material does")
    args = parser.parse_args()
    raise_fd_limit(args.count + 64)
    server_address = (args.host, args.port)

    start = time.monotonic()
    cpu_start = time.process_time()
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(args.count)]
    if args.verbose:
        print('connecting to %s port %s' % server_address)
    for s in socks:
        s.connect(server_address)
    connected = time.monotonic()

    bad = 0
    for message in MESSAGES:
        for s in socks:
            if args.verbose:
                print('%s: sending "%s"' % (s.getsockname(), message))
            s.sendall(message)
        for s in socks:
            data = b''
            while len(data) < len(message):
                chunk = s.recv(1024)
                if not chunk:
                    break
                data += chunk
            if args.verbose:
                print('%s: received "%s"' % (s.getsockname(), data))
            if data != message:
                bad += 1
    done = time.monotonic()
    cpu = time.process_time() - cpu_start
    for s in socks:
        s.close()

    print(f'reference_client: {args.count} connections, {len(MESSAGES) * args.count - bad} of '
          f'{len(MESSAGES) * args.count} replies verified; connect {connected - start:.3f} s, '
          f'total {done - start:.3f} s, CPU {cpu:.3f} s', file=sys.stderr)
    return 0 if bad == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
