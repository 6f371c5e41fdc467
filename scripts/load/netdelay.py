#!/usr/bin/env python3
"""A distant model for the load harness: a network namespace one fixed delay away.

Why a program and not `tc qdisc ... netem delay`: this machine's kernel has no netem (nor
fq, whose departure times could delay packets). Nagle's algorithm waits for the peer's
ACK, so only a delay in the network itself (ACKs included) shows what TCP_NODELAY does
against a far server; a delay in the fake model's code would not.

How: two TUN devices joined by this process. `TA` stays in this namespace with 10.77.0.1,
`TB` moves into a new namespace NETNS with 10.77.0.2 (point-to-point). Every packet read
from one is written to the other DELAY ms later, in order. A server started with
`ip netns exec NETNS ...` and bound to 10.77.0.2 is then 2 x DELAY ms of round trip away
from this namespace; nothing else on the machine changes (only 10.77.0.2 routes there).

Needs root (TUN, namespaces). Prints `ready` once set up; runs until stdin closes or
SIGTERM, then removes the namespace (the TUN devices go with this process).

    python3 scripts/load/netdelay.py --netns=loadfar --delay-ms=40
"""
import argparse
import collections
import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
NEAR, FAR = "10.77.0.1", "10.77.0.2"


def tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI))
    os.set_blocking(fd, False)
    return fd


def ip(*args):
    subprocess.run(["ip", *args], check=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--netns", required=True)
    p.add_argument("--delay-ms", type=float, required=True)
    o = p.parse_args()
    delay = o.delay_ms / 1000
    suffix = str(os.getpid() % 100000)
    near_name, far_name = f"ldn{suffix}", f"ldf{suffix}"
    near, far = tun(near_name), tun(far_name)
    ip("netns", "add", o.netns)
    try:
        ip("link", "set", far_name, "netns", o.netns)
        ip("addr", "add", NEAR, "peer", FAR, "dev", near_name)
        ip("link", "set", near_name, "up")
        ip("-n", o.netns, "link", "set", "lo", "up")
        ip("-n", o.netns, "addr", "add", FAR, "peer", NEAR, "dev", far_name)
        ip("-n", o.netns, "link", "set", far_name, "up")
        relay(near, far, delay)
    finally:
        subprocess.run(["ip", "netns", "del", o.netns])


def relay(near, far, delay):
    # One FIFO per direction: the delay is constant, so packets leave in arrival order.
    queues = {near: collections.deque(), far: collections.deque()}
    other = {near: far, far: near}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    os.set_blocking(sys.stdin.fileno(), False)
    print("ready", flush=True)
    watched = [near, far, sys.stdin.fileno()]
    while not stop:
        now = time.monotonic()
        due = [q[0][0] for q in queues.values() if q]
        timeout = max(0.0, min(due) - now) if due else 1.0
        try:
            readable, _, _ = select.select(watched, [], [], timeout)
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd in readable:
            if fd == sys.stdin.fileno():
                if not os.read(fd, 4096):
                    return
                continue
            while True:
                try:
                    packet = os.read(fd, 65536)
                except BlockingIOError:
                    break
                queues[fd].append((now + delay, packet))
        now = time.monotonic()
        for src, q in queues.items():
            while q and q[0][0] <= now:
                try:
                    os.write(other[src], q.popleft()[1])
                except BlockingIOError:
                    pass  # the kernel's queue is full: drop, as a network would


if __name__ == "__main__":
    main()
