#!/usr/bin/env python3
"""Peak heap per simulated node, by part of OpenDHT, from heaptrack output.

    heaptrack -o run p2psip-sim SCENARIO.toml --nodes N ...
    heaptrack_print -f run.zst -F run.stacks --flamegraph-cost-type peak
    simulations/tools/heap_by_part.py N run.stacks [other.stacks ...]

Each allocation alive at the peak goes to the first part, in the order of PARTS, whose
pattern matches any frame of its stack; what no part matches goes by its leaf-most frame of
ours or OpenDHT's. Only meaningful with an OpenDHT that has symbols: Debian's
libopendht is stripped (docs/simulations.md, session 13, says how the figures there were
made). The patterns name OpenDHT 2.4 functions.
"""
import collections
import re
import sys

PARTS = [
    ("values received (stored for others, read by gets)",
     r"Value::msgpack_unpack|unpackBlob|ParsedMessage::msgpack_unpack"),
    ("storage: index, quotas, expiry jobs",
     r"storageStore|Storage::store|StorageBucket|onAnnounce|onRefresh|expireStore"),
    ("puts: last request per storage node, probes",
     r"sendAnnounceValue|sendRefreshValue|searchSendAnnounceValue|Search::put|Dht::announce"
     r"|packValueHeader"),
    ("node objects (NodeCache)", r"NodeCache|Node::Node"),
    ("searches: nodes, get/find requests",
     r"Search::insertNode|sendFindNode|searchSendGetValues|sendGetValues|Dht::search\b"
     r"|Dht::get\b|Dht::query|paginate|searchNodeGetDone|onGetValuesDone"),
    ("scheduler jobs", r"Scheduler::add|Scheduler::edit"),
    ("routing table", r"RoutingTable|Bucket"),
    ("per node, fixed: Dht, SecureDht, value types",
     r"start_dht|SecureDht::SecureDht|Dht::Dht\b|registerType"),
]


def part_of(frames):
    for name, pattern in PARTS:
        if any(re.search(pattern, f) for f in frames):
            return name
    # Leaf-most frame of ours or OpenDHT's decides the rest.
    for f in reversed(frames):
        if "p2psip::" in f:
            return "harness and overlay code (p2psip)"
        if "dht::" in f:
            return "other OpenDHT (callbacks, identity announce, queries)"
    return "other (libraries, start-up)"


def load(path):
    parts, total = collections.Counter(), 0
    with open(path) as f:
        for line in f:
            stack, _, cost = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            total += int(cost)
            parts[part_of(stack.split(";"))] += int(cost)
    return parts, total


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    nodes = int(sys.argv[1])
    runs = [(p.rsplit("/", 1)[-1].removesuffix(".stacks"), *load(p)) for p in sys.argv[2:]]
    names = sorted({k for _, parts, _ in runs for k in parts}, key=lambda k: -runs[-1][1][k])
    print("| KiB per node | " + " | ".join(r[0] for r in runs) + " |")
    print("| --- |" + " --- |" * len(runs))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{r[1][name] / 1024 / nodes:.1f}" for r in runs) + " |")
    print("| heap at its peak | " + " | ".join(f"{r[2] / 1024 / nodes:.1f}" for r in runs) + " |")


if __name__ == "__main__":
    main()
