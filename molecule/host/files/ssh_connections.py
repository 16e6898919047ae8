"""Open N TCP connections to an SSH server at once from one source address; print what each got.

Outcomes (JSON on stdout): banner (sshd sent "SSH-..."), not_allowed ("Not allowed at this time",
PerSourceMaxStartups), exceeded ("Exceeded MaxStartups"), refused / reset / closed, other, and
no_answer (nothing within --wait seconds: the SYN was dropped). --hold keeps every connection open
until the end (unauthenticated connections pile up as in a DHEat attack); without it a connection
is closed as soon as it answered, so only the connection rate counts.
Bounded: at most --connections sockets, at most --wait seconds; talks only to --target.
"""

import argparse
import collections
import json
import selectors
import socket
import time

ANSWERS = ((b"SSH-", "banner"), (b"Not allowed at this time", "not_allowed"), (b"Exceeded MaxStartups", "exceeded"))


def classify(data):
    if not data:
        return "closed"
    for prefix, name in ANSWERS:
        if data.startswith(prefix):
            return name
    return "other"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--port", type=int, default=22)
    parser.add_argument("--source", default="")
    parser.add_argument("--connections", type=int, default=40)
    parser.add_argument("--wait", type=float, default=3.0)
    parser.add_argument("--hold", action="store_true")
    args = parser.parse_args()

    selector = selectors.DefaultSelector()
    sockets = []
    start = time.monotonic()
    for _index in range(min(args.connections, 200)):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.bind((args.source, 0))
        sock.connect_ex((args.target, args.port))
        selector.register(sock, selectors.EVENT_READ)
        sockets.append(sock)

    outcome = {}
    deadline = start + args.wait
    while len(outcome) < len(sockets) and time.monotonic() < deadline:
        for key, _events in selector.select(timeout=max(0.0, deadline - time.monotonic())):
            sock = key.fileobj
            try:
                result = classify(sock.recv(64))
            except ConnectionRefusedError:
                result = "refused"
            except ConnectionResetError:
                result = "reset"
            selector.unregister(sock)
            outcome[sock] = result
            if not args.hold:
                sock.close()
    elapsed = time.monotonic() - start
    for sock in sockets:
        sock.close()
    counts = collections.Counter(outcome.get(sock, "no_answer") for sock in sockets)
    print(json.dumps(dict(counts, connections=len(sockets), seconds=round(elapsed, 2)), sort_keys=True))


if __name__ == "__main__":
    main()
