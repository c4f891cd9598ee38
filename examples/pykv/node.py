#!/usr/bin/env python3
"""pykv node: a replicated key-value store, one CASPaxos register per key.

CASPaxos (Rystsov, 2018) is single-decree Paxos re-run for every change:
each op is a function of the register's current value. The node a client
asks is the proposer; every node (itself included) is an acceptor.

  1. prepare(key, ballot) to all acceptors; a majority promise and send
     back what they accepted. The value with the highest accepted ballot is
     the current one (none: the key's initial value, 0, or [] for the set).
  2. accept(key, ballot, f(current)) to all; a majority accepting means the
     change is chosen.

Why this is linearizable under kill, pause and partition: any two
majorities intersect, so a prepare majority always sees the last chosen
value, and an acceptor refuses a ballot lower than one it promised, so two
proposers cannot both choose from the same state. Acceptors fsync their
state before answering, so a killed node forgets nothing it promised.

The set is one register (key __set__) holding a list; the bank is one
register (key __bank__) holding every balance and, per participant, the
tx_ids applied.

Outcomes the node reports: "ok" (chosen), "fail" (certainly not, with a
reason: "no quorum", no prepare majority was reached, so nothing was sent
to accept; or "refused", a cas whose compare did not hold or an overdraft,
chosen unchanged), "unknown" (accept reached some acceptors but not a
majority: a later proposer may still choose it).

Seeded bugs (env PYKV_BUG, for chaoscheck's tests):
  local-read  a read answers the local acceptor's value, no quorum round
  no-quorum   prepare and accept wait for one acceptor (this node's own)

Standard library only.
"""

import argparse
import concurrent.futures
import http.server
import json
import os
import random
import sys
import threading
import time
import urllib.error
import urllib.request

BUG = os.environ.get("PYKV_BUG", "")
PEER_TIMEOUT = 0.5  # seconds per node-to-node request
SET_KEY = "__set__"
BANK_KEY = "__bank__"  # the whole bank is one register: a transfer is atomic


def initial(key):
    if key == SET_KEY:
        return []
    if key == BANK_KEY:
        return {"balances": {}, "effects": {}}
    return 0


def transfer(bank, req):
    """A transfer as a change of the bank register: applied once per tx_id
    (a retry is answered ok and changes nothing), refused on an overdraft.
    effects counts, per participant, the rows each tx_id left: what the
    final-read reports for chaoscheck's txid checker."""
    tx, frm, to, amount = req["tx_id"], req["from"], req["to"], req["amount"]
    if any(tx in e for e in bank["effects"].values()):
        return bank, "ok", None
    bal = bank["balances"]
    if frm not in bal or to not in bal or bal[frm] < amount:
        return bank, "refused", None
    new = json.loads(json.dumps(bank))
    new["balances"][frm] -= amount
    new["balances"][to] += amount
    for p in req["participants"]:
        new["effects"].setdefault(p, {})[tx] = 1
    return new, "ok", None


class Acceptor:
    """Per-key promised ballot, accepted ballot and value, kept durable:
    written to a temp file, fsynced, renamed over the old one, directory
    fsynced, all before the answer leaves."""

    def __init__(self, data_dir):
        self.dir = os.path.join(data_dir, "acceptor")
        os.makedirs(self.dir, exist_ok=True)
        self.locks = {}
        self.locks_mu = threading.Lock()

    def _lock(self, key):
        with self.locks_mu:
            return self.locks.setdefault(key, threading.Lock())

    def _path(self, key):
        return os.path.join(self.dir, key.encode().hex() + ".json")

    def _load(self, key):
        try:
            with open(self._path(key)) as f:
                return json.load(f)
        except FileNotFoundError:
            return {"promised": None, "accepted": None, "value": None}

    def _store(self, key, st):
        tmp = self._path(key) + ".tmp"
        with open(tmp, "w") as f:
            json.dump(st, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, self._path(key))
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def prepare(self, key, ballot):
        with self._lock(key):
            st = self._load(key)
            if st["promised"] is not None and ballot <= st["promised"]:
                return {"ok": False, "promised": st["promised"]}
            if st["accepted"] is not None and ballot <= st["accepted"]:
                return {"ok": False, "promised": st["accepted"]}
            st["promised"] = ballot
            self._store(key, st)
            return {"ok": True, "accepted": st["accepted"], "value": st["value"]}

    def accept(self, key, ballot, value):
        with self._lock(key):
            st = self._load(key)
            if st["promised"] is not None and ballot < st["promised"]:
                return {"ok": False, "promised": st["promised"]}
            if st["accepted"] is not None and ballot <= st["accepted"]:
                return {"ok": False, "promised": st["accepted"]}
            st["promised"], st["accepted"], st["value"] = ballot, ballot, value
            self._store(key, st)
            return {"ok": True}

    def local_value(self, key):
        with self._lock(key):
            st = self._load(key)
        return initial(key) if st["accepted"] is None else st["value"]


class Node:
    def __init__(self, name, index, data_dir, peers):
        self.name, self.index = name, index
        self.acceptor = Acceptor(data_dir)
        self.peers = peers  # name -> host:port, as this node dials them
        self.n = len(peers) + 1
        self.need = 1 if BUG == "no-quorum" else self.n // 2 + 1
        self.boot = random.getrandbits(48)  # makes ballots unique across restarts
        self.counter = {}
        self.counter_mu = threading.Lock()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=32)

    def ballot(self, key, seen=0):
        with self.counter_mu:
            c = max(self.counter.get(key, 0), seen) + 1
            self.counter[key] = c
            return [c, self.index, self.boot]

    def call_peer(self, addr, path, body):
        req = urllib.request.Request("http://%s%s" % (addr, path), data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=PEER_TIMEOUT) as resp:
                return json.loads(resp.read())
        except (OSError, ValueError, urllib.error.URLError):
            return None  # no answer: counts as neither yes nor no

    def broadcast(self, phase, body):
        """Sends phase to every acceptor; returns the answers gathered once
        self.need said ok, or once every acceptor answered or timed out."""
        local = getattr(self.acceptor, phase)
        args = (body["key"], body["ballot"]) + ((body["value"],) if phase == "accept" else ())
        answers = [local(*args)]
        oks = 1 if answers[0]["ok"] else 0
        if oks >= self.need:
            for addr in self.peers.values():  # still tell them, without waiting
                self.pool.submit(self.call_peer, addr, "/paxos/" + phase, body)
            return answers
        futs = [self.pool.submit(self.call_peer, addr, "/paxos/" + phase, body) for addr in self.peers.values()]
        for f in concurrent.futures.as_completed(futs):
            a = f.result()
            if a is None:
                continue
            answers.append(a)
            if a["ok"]:
                oks += 1
                if oks >= self.need:
                    break
        return answers

    def propose(self, key, change, budget):
        """Runs change(current) -> (new, outcome, value) as one CASPaxos
        round, retrying prepare (safe: nothing was accepted) until budget
        seconds pass."""
        deadline = time.monotonic() + budget
        # One round per key at a time on this node: its own proposers
        # would only duel (proposers on other nodes still may).
        lock = self.acceptor._lock("proposer/" + key)
        if not lock.acquire(timeout=budget):
            return "fail", None
        try:
            return self._propose(key, change, deadline)
        finally:
            lock.release()

    def _propose(self, key, change, deadline):
        seen = 0
        while time.monotonic() < deadline:
            b = self.ballot(key, seen)
            answers = self.broadcast("prepare", {"key": key, "ballot": b})
            oks = [a for a in answers if a["ok"]]
            if len(oks) < self.need:
                seen = max([seen] + [a["promised"][0] for a in answers if not a["ok"]])
                time.sleep(random.uniform(0.002, 0.02))
                continue
            cur, best = initial(key), None
            for a in oks:
                if a["accepted"] is not None and (best is None or a["accepted"] > best):
                    best, cur = a["accepted"], a["value"]
            new, outcome, value = change(cur)
            answers = self.broadcast("accept", {"key": key, "ballot": b, "value": new})
            if sum(1 for a in answers if a["ok"]) >= self.need:
                return outcome, value
            return "unknown", None
        return "fail", None

    def op(self, req):
        f, key = req.get("f"), req.get("key")
        budget = min(float(req.get("timeout_ms", 1000)) / 1000.0, 5.0)
        if f == "read":
            if BUG == "local-read":
                return "ok", self.acceptor.local_value(key)
            return self.propose(key, lambda cur: (cur, "ok", cur), budget)
        if f == "write":
            v = req["value"]
            return self.propose(key, lambda cur: (v, "ok", v), budget)
        if f == "cas":
            frm, to = req["from"], req["to"]
            return self.propose(key, lambda cur: (to, "ok", None) if cur == frm else (cur, "refused", cur), budget)
        if f == "init-bank":
            accounts, initial_balance = req["accounts"], req["initial_balance"]

            def init(cur):
                if cur["balances"]:
                    return cur, "ok", None
                return {"balances": {a: initial_balance for a in accounts},
                        "effects": {a.split("/")[0]: {} for a in accounts}}, "ok", None
            return self.propose(BANK_KEY, init, budget)
        if f == "transfer":
            return self.propose(BANK_KEY, lambda cur: transfer(cur, req), budget)
        if f == "add":
            v = req["value"]
            return self.propose(key, lambda cur: (cur + [v], "ok", None), budget)
        raise ValueError("unknown f %r" % f)


def make_handler(node):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, fmt, *args):
            pass

        def reply(self, code, obj):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/health":
                return self.reply(200, {"node": node.name})
            self.reply(404, {"error": "no such path"})

        def do_POST(self):
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if self.path == "/paxos/prepare":
                    return self.reply(200, node.acceptor.prepare(body["key"], body["ballot"]))
                if self.path == "/paxos/accept":
                    return self.reply(200, node.acceptor.accept(body["key"], body["ballot"], body["value"]))
                if self.path == "/op":
                    outcome, value = node.op(body)
                    reason = ""
                    if outcome == "refused":  # the change itself said no: chosen unchanged
                        outcome, reason = "fail", "refused"
                    elif outcome == "fail":
                        reason = "no quorum"
                    return self.reply(200, {"outcome": outcome, "reason": reason, "value": value, "node": node.name})
                self.reply(404, {"error": "no such path"})
            except (ValueError, KeyError) as e:
                self.reply(400, {"error": str(e)})

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--nodes", required=True, help="every node's name, comma-separated")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--peers", default="", help="name=host:port,… as this node dials them")
    a = ap.parse_args()
    peers = dict(p.split("=", 1) for p in a.peers.split(",") if p)
    node = Node(a.name, a.nodes.split(",").index(a.name), a.data, peers)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), make_handler(node))
    srv.daemon_threads = True
    print("pykv node %s on 127.0.0.1:%d, peers %s, bug %r" % (a.name, a.port, peers, BUG), file=sys.stderr, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
