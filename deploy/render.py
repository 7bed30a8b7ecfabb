#!/usr/bin/env python3
"""Render the manifests of deploy/k8s/ for a chosen test size.

The files in deploy/k8s/ are complete manifests for the worked example of docs/cluster.md (10 shards, 10M
connections, 32 server ports). This script re-sizes them consistently: the shard count appears in the load
Job's completions, parallelism and --shard argument and in the merge Job's file list; the connection count in
the load arguments, the server's --target and both pods' resources; the ports in the server's --listen list,
the load targets and the probes. Output is YAML (for kubectl apply -f -) or a JSON List (--json).

    deploy/render.py --shards 4 --connections 2M --rate 40k/s | kubectl apply -f -

Needs PyYAML (`pip install pyyaml`; kubernetes-validate, which deploy/validate.sh installs, brings it).
"""

import argparse
import json
import math
import pathlib
import re
import sys

try:
    import yaml
except ImportError:
    sys.exit("render.py: PyYAML is missing: install it with `pip install pyyaml`")

K8S_DIR = pathlib.Path(__file__).resolve().parent / "k8s"
# Applied in this order: the namespace and the volume before the pods that use them.
FILES = ["namespace.yaml", "results-pvc.yaml", "server.yaml", "load-job.yaml", "merge-job.yaml"]

# Per held connection, measured by c1m (DESIGN.md, docs/serve.md, docs/load.md): the kernel's idle TCP socket on
# Linux 6.x (tcp_sock 2368 + socket inode 832 + file 192 + dentry 192 + epoll item 128 + epoll hook 64), which is
# charged to the pod's memory cgroup, and c1m's user-space ceiling.
KERNEL_BYTES_PER_CONNECTION = 3776
USER_BYTES_PER_CONNECTION = 64
WORKER_PROCESS_BYTES = 10 << 20
# The smaller of the hard RLIMIT_NOFILE values container runtimes commonly give (the other is 1048576).
RUNTIME_FD_HARD_LIMIT = 524288
HEADROOM = 1.1
# Kernel CPU time per connection at one end (half of the 70-120 us measured for both ends on loopback).
CPU_MICROSECONDS_PER_CONNECT = 60
# The load Job's bound beyond ramp + hold: connect timeout (c1m load's default 10 s), c1m's 30 s slack, and
# 6 minutes to schedule the pods and pull the image.
JOB_SLACK_SECONDS = 10 + 30 + 360
INDEX = "$(JOB_COMPLETION_INDEX)"


def scaled(text, what):
    """A count such as 10000000, 10M or 100k (k = 1,000, M = 1,000,000), like c1m's own parser."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text.replace("_", ""))
    if not match:
        raise argparse.ArgumentTypeError(f"invalid {what} '{text}': expected a number such as 4000, 100k or 2M")
    value = float(match.group(1)) * {"": 1, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6}[match.group(2)]
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"invalid {what} '{text}': must be a whole number of at least 1")
    return int(value)


def count(text):
    return scaled(text, "count")


def rate(text):
    return scaled(text.removesuffix("/s"), "rate")


def seconds(text):
    """A duration with units (500ms, 30s, 10m, 1h, 1m30s), as c1m accepts it."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"invalid duration '{text}': expected a number with a unit such as 30s or 10m")
    return sum(float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[u] for n, u in parts)


def ports(text):
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
    low, high = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else (0, 0)
    if not match or not 1 <= low <= high <= 65535:
        raise argparse.ArgumentTypeError(f"invalid ports '{text}': expected a port or a range such as 7000-7031")
    return list(range(low, high + 1))


def shards(text):
    value = count(text)
    if value > 10000:
        raise argparse.ArgumentTypeError(f"invalid shards '{text}': more than 10000 pods is not one Job")
    return value


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shards", type=shards, help="load pods (default: as in load-job.yaml)")
    p.add_argument("--connections", type=count, help="connections over all shards, e.g. 10M")
    p.add_argument("--rate", type=rate, help="new connections per second over all shards, e.g. 100k/s")
    p.add_argument("--hold", help="how long every shard holds its connections, e.g. 10m")
    p.add_argument("--server", help="host name (or IP) the load pods connect to (default: c1m-server)")
    p.add_argument("--ports", type=ports, help="server ports, e.g. 7000-7031")
    p.add_argument("--image", help="the c1m image, e.g. registry.example/c1m:0.1.0")
    p.add_argument("--json", action="store_true", help="print one JSON List instead of YAML documents")
    args = p.parse_args(argv)
    if args.hold is not None:
        try:
            seconds(args.hold)
        except argparse.ArgumentTypeError as e:
            p.error(str(e))
    return args


def load_documents():
    docs = []
    for name in FILES:
        docs.extend(d for d in yaml.safe_load_all((K8S_DIR / name).read_text()) if d)
    return docs


def find(docs, kind, name):
    for d in docs:
        if d["kind"] == kind and d["metadata"]["name"] == name:
            return d
    sys.exit(f"render.py: deploy/k8s/ has no {kind} {name}")


def option(args, flag):
    return args[args.index(flag) + 1]


def set_option(args, flag, value):
    args[args.index(flag) + 1] = value


def positionals(args):
    """The index range of the TARGET arguments of `load TARGET... --option ...`."""
    end = next(i for i, a in enumerate(args) if a.startswith("--"))
    return 1, end


def gib(nbytes):
    return f"{math.ceil(nbytes / (1 << 30))}Gi"


def memory(connections):
    """Request and limit for a pod holding `connections` (arithmetic in the manifests' comments)."""
    workers = math.ceil(connections * HEADROOM / RUNTIME_FD_HARD_LIMIT)
    used = connections * (KERNEL_BYTES_PER_CONNECTION + USER_BYTES_PER_CONNECTION) + workers * WORKER_PROCESS_BYTES
    request = math.ceil(used * HEADROOM / (1 << 30))
    return f"{request}Gi", f"{math.ceil(request * HEADROOM)}Gi"


def cpu(rate_per_second):
    """Whole cores for the kernel work of `rate_per_second` connects or accepts."""
    return str(max(1, -(-rate_per_second * CPU_MICROSECONDS_PER_CONNECT // 1_000_000)))


def render(args):
    docs = load_documents()
    job = find(docs, "Job", "c1m-load")
    server = find(docs, "StatefulSet", "c1m-server")
    service = find(docs, "Service", "c1m-server")
    merge = find(docs, "Job", "c1m-merge")
    load_c = job["spec"]["template"]["spec"]["containers"][0]
    serve_c = server["spec"]["template"]["spec"]["containers"][0]
    load_args, serve_args = load_c["args"], serve_c["args"]

    n = args.shards or job["spec"]["completions"]
    connections = args.connections or count(option(load_args, "--connections"))
    total_rate = args.rate or rate(option(load_args, "--rate"))
    hold = args.hold or option(load_args, "--hold")
    first, end = positionals(load_args)
    old_targets = load_args[first:end]
    host = args.server or old_targets[0].rsplit(":", 1)[0]
    port_list = args.ports or [int(t.rsplit(":", 1)[1]) for t in old_targets]
    if connections < n:
        sys.exit(f"render.py: {connections} connections over {n} shards leaves shards empty: use fewer shards")

    job["spec"]["completions"] = job["spec"]["parallelism"] = n
    ramp = connections / total_rate
    job["spec"]["activeDeadlineSeconds"] = math.ceil(ramp + seconds(hold) + JOB_SLACK_SECONDS)
    load_args[first:end] = [f"{host}:{p}" for p in port_list]
    set_option(load_args, "--connections", str(connections))
    set_option(load_args, "--rate", f"{total_rate}/s")
    set_option(load_args, "--hold", hold)
    set_option(load_args, "--shard", f"{INDEX}/{n}")
    per_shard = math.ceil(connections / n)
    request, limit = memory(per_shard)
    load_c["resources"] = {"requests": {"cpu": cpu(-(-total_rate // n)), "memory": request}, "limits": {"memory": limit}}

    serve_args[:] = [a for i, a in enumerate(serve_args) if a != "--listen" and (i == 0 or serve_args[i - 1] != "--listen")]
    serve_args[1:1] = [x for p in port_list for x in ("--listen", f"0.0.0.0:{p}")]
    set_option(serve_args, "--target", str(connections))
    request, limit = memory(connections)
    serve_c["resources"] = {"requests": {"cpu": cpu(total_rate), "memory": request}, "limits": {"memory": limit}}
    serve_c["ports"][0]["containerPort"] = port_list[0]
    serve_c["readinessProbe"]["tcpSocket"]["port"] = port_list[0]
    service["spec"]["ports"][0]["port"] = service["spec"]["ports"][0]["targetPort"] = port_list[0]

    merge_c = merge["spec"]["template"]["spec"]["initContainers"][0]
    out = merge_c["args"].index("--out")
    merge_c["args"][2:out] = [f"/results/shard-{i}.json" for i in range(n)]

    if args.image:
        for d in (job, server, merge):
            spec = d["spec"]["template"]["spec"]
            for c in spec.get("initContainers", []) + spec["containers"]:
                c["image"] = args.image
    return docs


def main(argv):
    args = parse_args(argv)
    docs = render(args)
    if args.json:
        json.dump({"apiVersion": "v1", "kind": "List", "items": docs}, sys.stdout, indent=2)
        print()
    else:
        yaml.safe_dump_all(docs, sys.stdout, sort_keys=False, width=120)


if __name__ == "__main__":
    main(sys.argv[1:])
