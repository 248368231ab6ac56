#!/usr/bin/python3
"""One seeded chaos run: a local cluster, the checked workload, random faults.

  chaos.py --seed N --bin BUILD_DIR [--base 127.A.B] [--steps K]

Starts `autoshard local up` (6 instances, 1 replica each, ephemeral), runs
tests/chaos/workload.py against it, and applies K faults chosen and timed from
the seed (printed first, so any failure reproduces with the same seed):

  scale          scale to another size (4, 6 or 8 instances), waiting healthy
  kill-mover     start a scale, SIGKILL the elected sidecar (the one moving the
                 slots) at a random moment, restart it, let the scale finish
  kill-sidecar   SIGKILL the elected sidecar while idle, restart it
  stop-node      SIGSTOP a random server for less than the node timeout, SIGCONT
  kill-replica   SIGKILL a replica's server; it restarts empty and resyncs

then waits for a healthy cluster, stops the workload and checks it. Exit 0
only when the workload's checker and the final health check pass.
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAULTS = ["scale", "kill-mover", "kill-sidecar", "stop-node", "kill-replica"]


class Run:
    def __init__(self, args):
        self.args = args
        self.rnd = random.Random(args.seed)
        self.dir = tempfile.mkdtemp(prefix="autoshard-chaos.")
        self.base = args.base or "127.67.%d" % (args.seed % 250)
        self.auto = os.path.join(args.bin, "autoshard")
        self.n = 6
        self.log = []

    def say(self, msg):
        line = "chaos seed=%d: %s" % (self.args.seed, msg)
        self.log.append(line)
        print(line, flush=True)

    def local(self, *words, timeout=300, check=True):
        cmd = [self.auto, "local"] + list(words) + ["--dir", self.dir]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError("%s: exit %d: %s" % (" ".join(words), r.returncode, r.stdout.strip()[-500:]))
        return r

    def pid(self, node, what):
        with open(os.path.join(self.dir, "node-%d" % node, "%s.pid" % what)) as f:
            return int(f.read().strip())

    def role(self, node):
        r = subprocess.run(["valkey-cli", "-h", "%s.%d" % (self.base, node), "role"], stdout=subprocess.PIPE,
                           text=True, timeout=10)
        return r.stdout.split("\n")[0].strip()

    def healthy(self, deadline=180):
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            r = subprocess.run([self.auto, "check", "--seed", "%s.1:6379" % self.base], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=60)
            if r.returncode == 0:
                return True
            time.sleep(0.5)
        return False

    def other_size(self):
        return self.rnd.choice([s for s in (4, 6, 8) if s != self.n])

    def fault(self, kind):
        if kind == "scale":
            to = self.other_size()
            self.say("scale %d -> %d" % (self.n, to))
            self.local("scale", "--nodes", str(to))
            self.n = to
        elif kind == "kill-mover":
            to = self.other_size()
            after = self.rnd.uniform(0.2, 3.0)
            self.say("scale %d -> %d, SIGKILL of the elected sidecar after %.2f s" % (self.n, to, after))
            bg = subprocess.Popen([self.auto, "local", "scale", "--nodes", str(to), "--dir", self.dir],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(after)
            try:
                os.kill(self.pid(1, "sidecar"), signal.SIGKILL)
            except (OSError, ValueError):
                pass
            time.sleep(0.3)
            self.local("scale", "--nodes", str(to))  # restarts the dead sidecar, waits healthy
            bg.wait(timeout=300)
            self.n = to
        elif kind == "kill-sidecar":
            self.say("SIGKILL of the elected sidecar while idle")
            os.kill(self.pid(1, "sidecar"), signal.SIGKILL)
            time.sleep(self.rnd.uniform(0.1, 1.0))
            self.local("scale", "--nodes", str(self.n))
        elif kind == "stop-node":
            node = self.rnd.randint(1, self.n)
            secs = self.rnd.uniform(0.2, 1.2)
            self.say("SIGSTOP of node %d for %.2f s" % (node, secs))
            p = self.pid(node, "server")
            os.kill(p, signal.SIGSTOP)
            time.sleep(secs)
            os.kill(p, signal.SIGCONT)
        elif kind == "kill-replica":
            replicas = [i for i in range(1, self.n + 1) if self.role(i) == "slave"]
            if not replicas:
                self.say("kill-replica: no replica right now, skipped")
                return
            node = self.rnd.choice(replicas)
            self.say("SIGKILL of replica node %d's server, restarted empty" % node)
            os.kill(self.pid(node, "server"), signal.SIGKILL)
            time.sleep(self.rnd.uniform(0.1, 1.0))
            self.local("scale", "--nodes", str(self.n))

    def go(self):
        schedule = [(self.rnd.choice(FAULTS), self.rnd.uniform(0.5, 3.0)) for _ in range(self.args.steps)]
        self.say("schedule %s" % json.dumps(schedule))
        self.local("up", "--nodes", "6", "--replicas", "1", "--base-ip", self.base)
        stop = os.path.join(self.dir, "stop")
        ready = os.path.join(self.dir, "ready")
        wl = subprocess.Popen(["/usr/bin/python3", os.path.join(SRC, "tests", "chaos", "workload.py"),
                               "%s.1:6379" % self.base, "--seed", str(self.args.seed), "--stop-file", stop,
                               "--ready-file", ready], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        end = time.monotonic() + 30
        while not os.path.exists(ready) and time.monotonic() < end and wl.poll() is None:
            time.sleep(0.05)
        ok = True
        try:
            for kind, pause in schedule:
                time.sleep(pause)
                self.fault(kind)
            if not self.healthy():
                self.say("FAIL: cluster not healthy at the end")
                ok = False
            time.sleep(1.0)
        except Exception as e:  # noqa: BLE001 - a harness failure fails the run
            self.say("FAIL: %s: %s" % (type(e).__name__, e))
            ok = False
        open(stop, "w").close()
        try:
            out, err = wl.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            wl.kill()
            out, err = wl.communicate()
        self.say("workload %s" % out.strip())
        if err.strip():
            print(err.strip()[-3000:], file=sys.stderr)
        if wl.returncode != 0:
            ok = False
        return ok

    def close(self, ok):
        self.local("down", check=False, timeout=120)
        if ok:
            subprocess.run(["rm", "-rf", self.dir])
        else:
            self.say("state kept in %s" % self.dir)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--bin", required=True, help="build directory holding autoshard")
    ap.add_argument("--base", help="first three octets (default 127.67.<seed mod 250>)")
    ap.add_argument("--steps", type=int, default=4)
    args = ap.parse_args()
    run = Run(args)
    ok = False
    try:
        ok = run.go()
    finally:
        run.close(ok)
    run.say("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
