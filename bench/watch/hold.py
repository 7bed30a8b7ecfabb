#!/usr/bin/env python3
"""Hold N loopback TCP connections (2N sockets) until stdin closes or the time limit passes.

A fallback holder for bench/watch/run.sh when `c1m serve` + `c1m load` are not available: each worker
process owns one listener and up to 9,900 connections to it (both ends, within the 20,000-fd cap).
Prints "ready N" on stdout once every connection is established.
"""
import os, socket, sys, time

PER_WORKER = 9900

def worker(port, count, src):
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", port))
    lst.listen(4096)
    held = []
    done = 0
    while done < count:
        batch = min(1000, count - done)
        for _ in range(batch):
            c = socket.socket()
            c.bind((src, 0))
            c.connect(("127.0.0.1", port))
            held.append(c)
        for _ in range(batch):
            held.append(lst.accept()[0])
        done += batch
    held.append(lst)
    return held

def main():
    total, base_port, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    workers = (total + PER_WORKER - 1) // PER_WORKER
    r, w = os.pipe()
    pids = []
    for i in range(workers):
        n = min(PER_WORKER, total - i * PER_WORKER)
        pid = os.fork()
        if pid == 0:
            os.close(r)
            held = worker(base_port + i, n, "127.0.%d.%d" % (1 + i // 250, 1 + i % 250))
            os.write(w, b"x")
            deadline = time.time() + limit
            # stay until the parent exits (stdin EOF is the parent's job) or the time limit
            while time.time() < deadline and os.getppid() != 1:
                time.sleep(0.5)
            os._exit(0)
        pids.append(pid)
    os.close(w)
    got = 0
    while got < workers:
        chunk = os.read(r, workers)
        if not chunk:
            break
        got += len(chunk)
    print("ready", total if got == workers else -1, flush=True)
    deadline = time.time() + limit
    import select
    while time.time() < deadline:
        ready, _, _ = select.select([sys.stdin], [], [], 1.0)
        if ready and not sys.stdin.readline():
            break
    for pid in pids:
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass
    for pid in pids:
        os.waitpid(pid, 0)

if __name__ == "__main__":
    main()
