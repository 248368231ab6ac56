#!/usr/bin/python3
"""One seeded chaos run: a local cluster, the checked workload, random faults.

  chaos.py --seed N --bin BUILD_DIR [--base 127.67.B] [--steps K] [--faults F,F]

Starts `autoshard local up` (6 instances, 1 replica each, ephemeral), runs
tests/chaos/workload.py against it, and applies K faults chosen and timed from
the seed (printed first, so any failure reproduces with the same seed):

  scale          scale to another size (4, 6 or 8 instances), waiting healthy
  kill-mover     start a scale, SIGKILL the elected sidecar (the one moving the
                 slots) at a random moment, restart it, let the scale finish
  kill-sidecar   SIGKILL the elected sidecar while idle, restart it
  stop-node      SIGSTOP a random server for less than the node timeout, SIGCONT
  kill-replica   SIGKILL a replica's server; it restarts empty and resyncs
  kill-master    SIGKILL a master's server (one with a synced replica); it is
                 restarted like a supervisor would (prestart waits for the
                 replica to take over, then the server starts empty)
  kill-master-moving
                 start a scale to 6 or 8, SIGKILL a master after 0.2-3 s or,
                 when no slot is open yet, just after the first one opens (one
                 with open slots: a source or target of moves), restart it, and
                 require that the scale completes
  partition      drop every packet from or to one server's address (nftables,
                 loopback) for 3.5-8 s, longer than the 2 s node timeout, heal
  restart-new-address
                 stop one instance (sidecar and server), start it on another
                 address (127.67.B.1xx), wait healthy, later move it back

Schedules with kill-master, kill-master-moving or partition run the workload
in durable mode (WAIT 1 after every write; see workload.py and README.md).
Then it waits for a healthy cluster, stops the workload and checks it. Exit 0
only when the workload's checker and the final health check pass.
"""
import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAULTS = ["scale", "kill-mover", "kill-sidecar", "stop-node", "kill-replica", "kill-master", "kill-master-moving",
          "partition", "restart-new-address"]
# A master may lose writes it acknowledged but had not sent to its replica.
LOSSY = {"kill-master", "kill-master-moving", "partition"}
NODE_TIMEOUT_S = 2.0  # cluster-node-timeout of `autoshard local`


def on_sigterm(sig, frame):
    raise SystemExit(128 + sig)  # run the finally blocks: partition rules, `local down`


class Run:
    def __init__(self, args):
        self.args = args
        self.rnd = random.Random(args.seed)
        self.dir = tempfile.mkdtemp(prefix="autoshard-chaos.")
        self.base = args.base or "127.67.%d" % (args.seed % 250)
        if not re.fullmatch(r"127\.67\.\d{1,3}", self.base) or int(self.base.split(".")[2]) > 255:
            raise SystemExit("chaos: --base %s: want 127.67.B (chaos's own subnet)" % self.base)
        self.table = "autoshard_chaos_" + self.base.replace(".", "_")  # nftables table, one per base
        self.auto = os.path.join(args.bin, "autoshard")
        self.sidecar = os.path.join(args.bin, "autoshard-sidecar")
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

    def ip(self, node):
        return "%s.%d" % (self.base, node)

    def pid(self, node, what):
        with open(os.path.join(self.dir, "node-%d" % node, "%s.pid" % what)) as f:
            return int(f.read().strip())

    def cli(self, node_ip, *words):
        """valkey-cli against one server; "" when it does not answer (bounded)."""
        try:
            r = subprocess.run(["valkey-cli", "-h", node_ip] + list(words), stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, timeout=5)
        except subprocess.TimeoutExpired:
            return ""
        return r.stdout

    def role(self, node):
        return self.cli(self.ip(node), "role").split("\n")[0].strip()

    def masters_with_replica(self):
        """Nodes (numbers) that are masters with at least one replica online,
        those among them with open slots (migrating or importing), and how many
        masters own slots (the voters of a failover)."""
        masters, moving, owners = [], [], 0
        for i in range(1, self.n + 3):  # a scale up may have started two more
            info = self.cli(self.ip(i), "info", "replication")
            if "role:master" not in info:
                continue
            view = self.cli(self.ip(i), "cluster", "nodes").split("\n")
            if not owners:
                owners = sum(1 for ln in view if slot_owner(ln))
            if "state=online" not in info:
                continue
            masters.append(i)
            mine = [ln for ln in view if "myself" in ln]
            if mine and ("->-" in mine[0] or "-<-" in mine[0]):
                moving.append(i)
        return masters, moving, owners

    def healthy(self, deadline=180, seed_node=1, n=None):
        """autoshard check until it passes: every slot served, no failing
        node, n/2 masters with one replica each. A hang guard, not a timing
        assertion."""
        n = n or self.n
        end = time.monotonic() + deadline
        last = ""
        while time.monotonic() < end:
            r = subprocess.run([self.auto, "check", "--seed", "%s:6379" % self.ip(seed_node), "--masters",
                                str(n // 2), "--replicas", "1"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=60)
            if r.returncode == 0:
                return True
            last = r.stdout.strip().split("\n")[0] if r.stdout.strip() else ""
            time.sleep(0.5)
        self.say("not healthy after %d s: %s" % (deadline, last))
        return False

    def other_size(self):
        return self.rnd.choice([s for s in (4, 6, 8) if s != self.n])

    # -- partition (nftables on loopback) ------------------------------------

    def unpartition(self):
        """Remove this base's table (the partition rules); no error when absent."""
        subprocess.run(["nft", "delete", "table", "inet", self.table], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)

    def partition(self, addr):
        rules = ("table inet %s {\n chain input {\n  type filter hook input priority -10; policy accept;\n"
                 "  ip saddr %s drop\n  ip daddr %s drop\n }\n}\n" % (self.table, addr, addr))
        subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True, timeout=30)

    # -- restart on another address (what `autoshard local` cannot do for one node)

    def local_conf(self):
        conf = {}
        with open(os.path.join(self.dir, "local.conf")) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                conf[k] = v
        return conf

    def write_instances(self, addrs):
        path = os.path.join(self.dir, "instances")
        with open(path + ".tmp", "w") as f:
            f.write("# written by chaos.py; one instance per line\n")
            for a in addrs:
                f.write("%s:6379\n" % a)
        os.rename(path + ".tmp", path)

    def stop_instance(self, node):
        """What `local down` does for one node: SIGTERM the sidecar, then the
        server (a master waits for its replica to catch up), SIGKILL after 5/10 s."""
        for what, grace in (("sidecar", 5.0), ("server", 10.0)):
            path = os.path.join(self.dir, "node-%d" % node, "%s.pid" % what)
            try:
                p = self.pid(node, what)
                os.kill(p, signal.SIGTERM)
            except (OSError, ValueError):
                continue
            end = time.monotonic() + grace
            while alive(p) and time.monotonic() < end:
                time.sleep(0.02)
            if alive(p):
                os.kill(p, signal.SIGKILL)
                end = time.monotonic() + 2
                while alive(p) and time.monotonic() < end:
                    time.sleep(0.02)
            try:
                os.unlink(path)
            except OSError:
                pass

    def start_instance_at(self, node, addr):
        """`autoshard local`'s start_node for one node on another address:
        prestart (ephemeral: cleans; persistent: clone guard), the server with
        its config rewritten for the address, the sidecar."""
        conf = self.local_conf()
        nd = os.path.join(self.dir, "node-%d" % node)
        pwf = ["--password-file", conf["password_file"]] if conf.get("password_file") else []
        with open(os.path.join(nd, "sidecar.log"), "a") as log:
            r = subprocess.run([self.sidecar, "prestart", "--mode", conf["mode"], "--data-dir", nd, "--peers-file",
                                os.path.join(self.dir, "instances"), "--node", "%s:6379" % addr] + pwf,
                               stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, timeout=150)
        if r.returncode != 0:
            raise RuntimeError("prestart of node %d at %s: exit %d (see %s/sidecar.log)" % (node, addr,
                                                                                           r.returncode, nd))
        path = os.path.join(nd, "server.conf")
        with open(path) as f:
            lines = f.read().split("\n")
        for k, line in enumerate(lines):  # the other lines (password included) are kept as they are
            if line.startswith("bind ") or line.startswith("bind-source-addr "):
                lines[k] = "%s %s" % (line.split(" ")[0], addr)
        with open(path + ".tmp", "w") as f:
            f.write("\n".join(lines))
        os.chmod(path + ".tmp", os.stat(path).st_mode & 0o777)
        os.rename(path + ".tmp", path)
        self.spawn(node, "server", [conf["server"], path])
        self.spawn(node, "sidecar", [self.sidecar, "run", "--node", "%s:6379" % addr, "--peers-file",
                                     os.path.join(self.dir, "instances"), "--replicas", conf["replicas"],
                                     "--data-dir", nd, "--mode", conf["mode"]] + pwf)

    def spawn(self, node, what, argv):
        nd = os.path.join(self.dir, "node-%d" % node)
        logname = "server.out" if what == "server" else "sidecar.log"
        with open(os.path.join(nd, logname), "a") as log:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        with open(os.path.join(nd, "%s.pid" % what), "w") as f:
            f.write("%d\n" % p.pid)

    # -- the faults -----------------------------------------------------------

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
        elif kind == "kill-master":
            pick, delay = self.rnd.random(), self.rnd.uniform(0.1, 1.0)  # drawn first: the seed fixes them
            end = time.monotonic() + 20  # a replica that just started may still be in its first sync
            masters, _, owners = self.masters_with_replica()
            while owners >= 3 and not masters and time.monotonic() < end:
                time.sleep(0.5)
                masters, _, owners = self.masters_with_replica()
            if owners < 3 or not masters:
                self.say("kill-master skipped: %d masters own slots, %d have a replica online (a failover needs "
                         "the votes of a majority of at least 3 slot owners)" % (owners, len(masters)))
                return
            node = masters[int(pick * len(masters))]
            self.say("SIGKILL of master node %d's server (masters with a replica: %s), restarted after %.2f s"
                     % (node, masters, delay))
            os.kill(self.pid(node, "server"), signal.SIGKILL)
            time.sleep(delay)
            self.local("scale", "--nodes", str(self.n))  # prestart waits for the promotion; waits healthy
        elif kind == "kill-master-moving":
            # Never down to 4 instances: 2 masters cannot fail one over (no majority of voters).
            to = self.rnd.choice([x for x in (6, 8) if x != self.n])
            after, extra = self.rnd.uniform(0.2, 3.0), self.rnd.uniform(0.0, 0.3)
            pick, delay = self.rnd.random(), self.rnd.uniform(0.1, 1.0)
            self.say("scale %d -> %d, SIGKILL of a master after %.2f s (or, if no slot is open yet, %.2f s after "
                     "the first one opens), restarted %.2f s later" % (self.n, to, after, extra, delay))
            bg = subprocess.Popen([self.auto, "local", "scale", "--nodes", str(to), "--dir", self.dir],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            try:
                time.sleep(after)
                # Moves start once the new replicas have synced: wait for an
                # open slot (bounded), so the kill hits a source or target.
                end = time.monotonic() + 30
                masters, moving, owners = self.masters_with_replica()
                waited = False
                while not (moving and owners >= 3) and bg.poll() is None and time.monotonic() < end:
                    waited = True
                    time.sleep(0.05)
                    masters, moving, owners = self.masters_with_replica()
                if waited and moving and owners >= 3:
                    time.sleep(extra)
                    masters, moving2, owners = self.masters_with_replica()
                    moving = moving2 or [m for m in moving if m in masters]
                pool = moving or masters
                if owners < 3:
                    self.say("only %d masters own slots: no kill (a failover needs a majority of at least 3)"
                             % owners)
                elif pool:
                    node = pool[int(pick * len(pool))]
                    self.say("SIGKILL of master node %d's server (with open slots: %s; masters with a replica: %s)"
                             % (node, moving, masters))
                    try:
                        os.kill(self.pid(node, "server"), signal.SIGKILL)
                    except (OSError, ValueError) as e:
                        self.say("kill of node %d: %s" % (node, e))
                else:
                    self.say("no master with a replica online right now; no kill")
                time.sleep(delay)
                self.local("scale", "--nodes", str(to))  # restarts the killed server, waits healthy
                out, _ = bg.communicate(timeout=300)
            finally:
                if bg.poll() is None:
                    bg.kill()
                    bg.wait()
            if bg.returncode != 0:
                raise RuntimeError("the scale to %d did not complete: exit %d: %s"
                                   % (to, bg.returncode, (out or "").strip()[-500:]))
            self.n = to
        elif kind == "partition":
            node, secs = self.rnd.randint(1, self.n), self.rnd.uniform(NODE_TIMEOUT_S + 1.5, 8.0)
            self.say("partition of node %d (%s) for %.2f s: every packet from or to %s dropped"
                     % (node, self.role(node) or "?", secs, self.ip(node)))
            try:
                self.partition(self.ip(node))
                time.sleep(secs)
            finally:
                self.unpartition()
            if not self.healthy():
                raise RuntimeError("not healthy after the partition of node %d healed" % node)
            self.say("partition healed, cluster healthy; node %d is %s" % (node, self.role(node) or "?"))
        elif kind == "restart-new-address":
            pick, pause = self.rnd.random(), self.rnd.uniform(0.5, 3.0)
            masters, _, owners = self.masters_with_replica()
            pool = list(range(1, self.n + 1))
            if owners < 3:  # a stopped master could not be failed over: move a replica
                pool = [i for i in pool if self.role(i) == "slave"] or pool
            node = pool[int(pick * len(pool))]
            home, away = self.ip(node), "%s.%d" % (self.base, 100 + node)
            addrs = [self.ip(i) for i in range(1, self.n + 1)]
            witness = 1 if node != 1 else 2  # `check --seed`: a node that stays
            self.say("restart of node %d (%s) on new address %s, back to %s %.2f s after healthy"
                     % (node, self.role(node) or "?", away, home, pause))
            self.stop_instance(node)
            self.write_instances([away if a == home else a for a in addrs])
            self.start_instance_at(node, away)
            if not self.healthy(seed_node=witness):
                raise RuntimeError("not healthy with node %d at %s" % (node, away))
            time.sleep(pause)
            self.say("node %d back from %s to %s" % (node, away, home))
            self.stop_instance(node)
            self.write_instances(addrs)
            self.local("scale", "--nodes", str(self.n))  # starts it at home again, waits healthy

    def go(self):
        faults = self.args.faults.split(",") if self.args.faults else FAULTS
        schedule = [(self.rnd.choice(faults), self.rnd.uniform(0.5, 3.0)) for _ in range(self.args.steps)]
        durable = any(kind in LOSSY for kind, _ in schedule)
        self.say("schedule %s; workload %s" % (json.dumps(schedule), "durable (WAIT 1)" if durable else "plain"))
        self.unpartition()  # leftovers of an earlier run on this base
        self.local("up", "--nodes", "6", "--replicas", "1", "--base-ip", self.base)
        # Healthy comes before the replicas' first sync ends (diskless sync
        # waits 5 s); until then every WAIT 1 times out. Bounded wait.
        end = time.monotonic() + 60
        while time.monotonic() < end:
            masters, _, owners = self.masters_with_replica()
            if owners and len(masters) >= owners:
                break
            time.sleep(0.2)
        stop = os.path.join(self.dir, "stop")
        ready = os.path.join(self.dir, "ready")
        # stderr to a file: python3-redis may print many ignored exceptions,
        # and a full pipe nobody reads would block the workload.
        wl_err = open(os.path.join(self.dir, "workload.err"), "w+")
        wl = subprocess.Popen(["/usr/bin/python3", os.path.join(SRC, "tests", "chaos", "workload.py"),
                               "%s.1:6379" % self.base, "--seed", str(self.args.seed), "--stop-file", stop,
                               "--ready-file", ready] + (["--durable"] if durable else []),
                              stdout=subprocess.PIPE, stderr=wl_err, text=True)
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
        finally:
            open(stop, "w").close()
        try:
            out, _ = wl.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            wl.kill()
            out, _ = wl.communicate()
        wl_err.seek(0)
        err = "\n".join(ln for ln in wl_err.read().split("\n") if ln.startswith("load_client:"))
        wl_err.close()
        self.say("workload %s" % out.strip())
        if err.strip():
            print(err.strip()[-3000:], file=sys.stderr)
        if wl.returncode != 0:
            ok = False
        return ok

    def close(self, ok):
        self.unpartition()
        self.local("down", check=False, timeout=120)
        if ok:
            subprocess.run(["rm", "-rf", self.dir])
        else:
            self.say("state kept in %s" % self.dir)


def slot_owner(line):
    """A CLUSTER NODES line of a master that owns at least one slot."""
    f = line.split()
    return len(f) > 8 and "master" in f[2].split(",") and any(not x.startswith("[") for x in f[8:])


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie (our own child, not reaped yet) is dead too
        with open("/proc/%d/stat" % pid) as f:
            if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
                return False
    except (OSError, IndexError):
        return False
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--bin", required=True, help="build directory holding autoshard")
    ap.add_argument("--base", help="first three octets, 127.67.B (default 127.67.<seed mod 250>)")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--faults", help="comma-separated kinds to draw from (default: all)")
    args = ap.parse_args()
    if args.faults and not set(args.faults.split(",")) <= set(FAULTS):
        ap.error("--faults: kinds are %s" % ", ".join(FAULTS))
    signal.signal(signal.SIGTERM, on_sigterm)
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
