# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measure the edge failover of a lab (make demo-ha, Molecule scenario platform) from outside Ansible.

    python3 tools/lab/failover.py --probe sq-lab-mon-1 --vip 10.231.72.100 --edges sq-lab-edge-1 sq-lab-edge-2 \
        [--stop-traefik | --stop-instance] [--timeout 30]

Every step is seen from the probe host (a container on the same network as the edges): it asks
http://<floating IP>/ and reads its own neighbour table for the floating IP, so "answered through edge N"
means an HTTP answer came from the host whose MAC address the floating IP resolves to.
  1. the floating IP answers through the first edge;
  2. the first edge's Traefik is stopped (`docker stop traefik` inside it; --stop-instance stops the
     whole container instead); the seconds until the floating IP answers through the second edge are
     measured (from just before the stop to the first such answer, probed every 0.1 s);
  3. the first edge is restored (Traefik or the container started again) and the seconds until the
     floating IP answers through it again (keepalived preempts) are measured.
Prints one JSON object (also the --keep-stopped state for tests that check alerts in between: then
step 3 is left to a second call with --restore). Exit status 1 when a step times out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

# Runs inside the probe host (python3 of the test image): one line per attempt is too slow through docker
# exec, so the loop itself runs there and prints the seconds it waited.
PROBE = r"""
import socket, subprocess, sys, time
vip, want, timeout = sys.argv[1], sys.argv[2].lower(), float(sys.argv[3])
start = time.monotonic()
last = ""
while time.monotonic() - start < timeout:
    try:
        with socket.create_connection((vip, 80), timeout=0.5) as conn:
            conn.sendall(b"GET / HTTP/1.0\r\nHost: failover.test\r\n\r\n")
            status = conn.recv(64).split(b"\r\n")[0].decode("latin-1")
        neigh = subprocess.run(["ip", "neigh", "show", vip], capture_output=True, text=True).stdout.split()
        mac = neigh[neigh.index("lladdr") + 1].lower() if "lladdr" in neigh else ""
        last = "%s via %s" % (status, mac or "no neighbour entry")
        if status.startswith("HTTP/") and mac == want:
            print("%.2f %s" % (time.monotonic() - start, last))
            sys.exit(0)
    except OSError as exc:
        last = str(exc)
    time.sleep(0.1)
print("timeout %s" % last)
sys.exit(1)
"""


def docker(*args, check=True):
    return subprocess.run(["docker"] + list(args), capture_output=True, text=True, check=check).stdout.strip()


def mac_of(container):
    networks = json.loads(docker("inspect", "--format", "{{json .NetworkSettings.Networks}}", container))
    macs = [net["MacAddress"] for net in networks.values() if net.get("MacAddress")]
    if len(macs) != 1:
        sys.exit("%s: expected one network, found %s" % (container, sorted(networks)))
    return macs[0].lower()


def wait_through(probe, vip, edge, timeout):
    """Seconds until the floating IP answers through ``edge`` (probe's view), or None."""
    result = subprocess.run(["docker", "exec", "-i", probe, "python3", "-", vip, mac_of(edge), str(timeout)],
                            input=PROBE, capture_output=True, text=True, check=False)
    words = result.stdout.split(None, 1)
    if result.returncode or not words:
        print("[failover] %s: no answer through %s: %s %s" % (vip, edge, result.stdout.strip(), result.stderr.strip()),
              file=sys.stderr)
        return None
    return float(words[0])


def stop(edge, instance):
    if instance:
        docker("stop", "--time", "5", edge)
    else:
        docker("exec", edge, "docker", "stop", "traefik")


def start(edge, instance):
    if instance:
        docker("start", edge)
    else:
        docker("exec", edge, "docker", "start", "traefik")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe", required=True, help="container that probes the floating IP")
    parser.add_argument("--vip", required=True)
    parser.add_argument("--edges", nargs=2, required=True, metavar=("FIRST", "SECOND"))
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--stop-traefik", action="store_true", default=True)
    how.add_argument("--stop-instance", action="store_true")
    parser.add_argument("--keep-stopped", action="store_true", help="leave the first edge down (then --restore)")
    parser.add_argument("--restore", action="store_true", help="only restore the first edge and measure")
    parser.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args()
    first, second = args.edges
    report = {"vip": args.vip, "first": first, "second": second,
              "stopped": "instance" if args.stop_instance else "traefik"}
    if not args.restore:
        report["answers_through_first"] = wait_through(args.probe, args.vip, first, args.timeout) is not None
        if not report["answers_through_first"]:
            print(json.dumps(report))
            return 1
        begin = time.monotonic()
        stop(first, args.stop_instance)
        seconds = wait_through(args.probe, args.vip, second, args.timeout)
        report["failover_seconds"] = round(time.monotonic() - begin, 2) if seconds is not None else None
        if seconds is None or args.keep_stopped:
            print(json.dumps(report))
            return 0 if seconds is not None else 1
    begin = time.monotonic()
    start(first, args.stop_instance)
    seconds = wait_through(args.probe, args.vip, first, args.timeout)
    report["failback_seconds"] = round(time.monotonic() - begin, 2) if seconds is not None else None
    print(json.dumps(report))
    return 0 if seconds is not None else 1


if __name__ == "__main__":
    sys.exit(main())
