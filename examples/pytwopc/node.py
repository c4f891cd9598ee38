#!/usr/bin/env python3
"""pytwopc node: a two-phase-commit bank, one coordinator (node "c") and
participants (every other node), each holding the accounts named after it
("p1/a1" lives on p1). Standard library only.

Transfer (coordinator, one tx_id at a time per tx_id):
  1. a tx_id with a durable decision is answered from it (commit: ok,
     abort: "aborted"), so a retry never applies twice;
  2. prepare on every participant the transfer touches; a participant
     votes yes only after fsyncing PREPARED with its writes, holding an
     exclusive lock on the accounts (no other prepared transaction on
     them) and with the money there;
  3. any no or silence: the abort decision is fsynced, then sent;
     all yes: the commit decision is fsynced, then (the commit window)
     commit messages go out. The client's ok follows the durable decision.
  4. a participant applies a commit once (effects record tx_id), and keeps
     the prepared transaction, in doubt, across restarts until it learns
     the decision: the coordinator re-sends commits, and a participant asks
     the coordinator about transactions in doubt for a while. A coordinator
     that has no decision for a tx_id it is not working on fsyncs an abort
     and answers it (presumed abort): no decision can come later.

Reads of the balances lock every participant's accounts in turn (refused
while a transaction is prepared there) and read under the locks, so a read
sees each transfer on both sides or on neither.

The commit window: PUT /failpoint?participant=P&hold_ms=N arms the
coordinator; the next transaction that spans P and another participant is
held once its commit decision is durable and before any commit message,
its tx_id on GET /failpoint and in the log ("held tx_id=t7"), until DELETE
/failpoint or N ms.

Seeded bug (env PYTWOPC_BUG, for chaoscheck's tests):
  no-dedup   the coordinator does not look up earlier decisions and
             participants re-apply a tx_id they already committed: a
             retried transfer is applied twice.
"""

import argparse
import http.server
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

BUG = os.environ.get("PYTWOPC_BUG", "")
PEER_TIMEOUT = 1.0


def log(msg):
    sys.stderr.write("%.3f %s\n" % (time.time(), msg))
    sys.stderr.flush()


class Durable:
    """A JSON document on disk, replaced atomically and fsynced on every
    save: what save returns is on disk."""

    def __init__(self, path, empty):
        self.path = path
        try:
            with open(path) as f:
                self.doc = json.load(f)
        except FileNotFoundError:
            self.doc = empty

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.doc, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, self.path)
        fd = os.open(os.path.dirname(self.path), os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def post(addr, path, body, timeout=PEER_TIMEOUT):
    """POSTs JSON; returns the answer, or None when there was none."""
    req = urllib.request.Request("http://%s%s" % (addr, path), data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None


class Participant:
    def __init__(self, name, data, coordinator):
        self.name, self.coordinator = name, coordinator
        self.mu = threading.Lock()
        self.st = Durable(os.path.join(data, "participant.json"),
                          {"balances": {}, "prepared": {}, "aborted": [], "effects": {}})
        self.read_locks = {}  # rid -> deadline; memory only: a read dies with the node
        self.since = {tx: time.monotonic() for tx in self.st.doc["prepared"]}
        threading.Thread(target=self.resolve_loop, daemon=True).start()

    def locked_accounts(self, but=None):
        out = set()
        for tx, writes in self.st.doc["prepared"].items():
            if tx != but:
                out.update(a for a, _ in writes)
        return out

    def init(self, req):
        with self.mu:
            d = self.st.doc
            if not d["balances"]:
                d["balances"] = {a: req["initial_balance"] for a in req["accounts"] if a.split("/")[0] == self.name}
                self.st.save()
            return {"ok": True}

    def prepare(self, req):
        tx, writes = req["tx_id"], req["writes"]
        with self.mu:
            d = self.st.doc
            if tx in d["effects"] and BUG != "no-dedup":
                return {"vote": "yes"}  # committed already: a duplicate
            if tx in d["aborted"]:
                return {"vote": "no", "why": "aborted"}
            if tx in d["prepared"]:
                return {"vote": "yes"}
            self.expire_read_locks()
            if self.read_locks:
                return {"vote": "no", "why": "read in progress"}
            if self.locked_accounts() & {a for a, _ in writes}:
                return {"vote": "no", "why": "accounts locked"}
            for a, delta in writes:
                if a not in d["balances"]:
                    return {"vote": "no", "why": "no account " + a}
                if d["balances"][a] + delta < 0:
                    return {"vote": "no", "why": "insufficient funds"}
            d["prepared"][tx] = writes
            self.st.save()
            self.since[tx] = time.monotonic()
            return {"vote": "yes"}

    def commit(self, req):
        tx = req["tx_id"]
        with self.mu:
            d = self.st.doc
            writes = d["prepared"].pop(tx, None)
            if writes is None:
                return {"ok": True}  # applied before (or never prepared here)
            for a, delta in writes:
                d["balances"][a] += delta
            d["effects"][tx] = d["effects"].get(tx, 0) + 1
            self.st.save()
            self.since.pop(tx, None)
            return {"ok": True}

    def abort(self, req):
        tx = req["tx_id"]
        with self.mu:
            d = self.st.doc
            d["prepared"].pop(tx, None)
            if tx not in d["aborted"]:
                d["aborted"].append(tx)
            self.st.save()
            self.since.pop(tx, None)
            return {"ok": True}

    def expire_read_locks(self):
        now = time.monotonic()
        for rid in [r for r, dl in self.read_locks.items() if dl < now]:
            del self.read_locks[rid]

    def read_lock(self, req):
        with self.mu:
            if self.st.doc["prepared"]:
                return {"ok": False}
            self.read_locks[req["rid"]] = time.monotonic() + 2.0
            return {"ok": True}

    def read(self, req):
        with self.mu:
            held = self.read_locks.pop(req["rid"], None) is not None
            return {"ok": held, "balances": dict(self.st.doc["balances"])}

    def observe(self):
        with self.mu:
            d = self.st.doc
            return {"in_doubt": sorted(d["prepared"]), "effects": dict(d["effects"])}

    def resolve_loop(self):
        """Asks the coordinator about transactions in doubt for long."""
        while True:
            time.sleep(0.2)
            with self.mu:
                old = [tx for tx, t in self.since.items() if time.monotonic() - t > 1.0]
            for tx in old:
                r = post(self.coordinator, "/decision", {"tx_id": tx})
                if r and r["decision"] == "commit":
                    self.commit({"tx_id": tx})
                elif r and r["decision"] == "abort":
                    self.abort({"tx_id": tx})


class Coordinator:
    def __init__(self, data, participants):
        self.parts = participants  # name -> addr
        self.log = Durable(os.path.join(data, "decisions.json"), {})  # tx -> {"decision", "parts", "acked"}
        self.mu = threading.Lock()  # guards the decision log
        self.tx_locks, self.tx_locks_mu = {}, threading.Lock()
        self.fp_mu = threading.Lock()
        self.armed, self.held, self.release = None, "", threading.Event()
        self.inflight = set()  # tx_ids a transfer thread is deciding or committing
        threading.Thread(target=self.redrive_loop, daemon=True).start()

    def tx_lock(self, tx):
        with self.tx_locks_mu:
            return self.tx_locks.setdefault(tx, threading.Lock())

    def decide(self, tx, decision, parts, writes):
        with self.mu:
            self.log.doc[tx] = {"decision": decision, "parts": parts, "writes": writes, "acked": []}
            self.log.save()

    def decision_of(self, tx):
        with self.mu:
            e = self.log.doc.get(tx)
            return e and e["decision"]

    def transfer(self, req):
        tx, frm, to, amount = req["tx_id"], req["from"], req["to"], req["amount"]
        with self.tx_lock(tx):
            with self.mu:
                self.inflight.add(tx)
            try:
                return self.transfer_locked(tx, frm, to, amount)
            finally:
                with self.mu:
                    self.inflight.discard(tx)

    def transfer_locked(self, tx, frm, to, amount):
        if BUG != "no-dedup":
            d = self.decision_of(tx)
            if d == "commit":
                return {"outcome": "ok"}
            if d == "abort":
                return {"outcome": "fail", "error": "aborted: decided before"}
        writes = {}
        for a, delta in ((frm, -amount), (to, amount)):
            writes.setdefault(a.split("/")[0], []).append([a, delta])
        parts = sorted(writes)
        why = None
        for p in parts:
            if p not in self.parts:
                why = "no participant " + p
                break
            r = self.prepare_on(p, tx, writes[p])
            if not r or r["vote"] != "yes":
                why = "%s voted no (%s)" % (p, r["why"] if r else "no answer")
                break
        if why:
            self.decide(tx, "abort", parts, writes)
            for p in parts:
                if p in self.parts:
                    post(self.parts[p], "/abort", {"tx_id": tx})
            return {"outcome": "fail", "error": "aborted: " + why}
        self.decide(tx, "commit", parts, writes)
        self.window(tx, parts)
        self.send_commits(tx)
        return {"outcome": "ok"}

    def prepare_on(self, p, tx, writes):
        """Asks p to prepare; a no for a lock held by another transaction
        (which records nothing) is asked again for a while."""
        for _ in range(25):
            r = post(self.parts[p], "/prepare", {"tx_id": tx, "writes": writes})
            if not r or r["vote"] == "yes" or r["why"] not in ("accounts locked", "read in progress"):
                return r
            time.sleep(0.02)
        return r

    def window(self, tx, parts):
        """The commit window: decision durable, no commit message sent."""
        with self.fp_mu:
            if not self.armed or self.armed[0] not in parts or len(parts) < 2 or self.held:
                return
            hold_ms = self.armed[1]
            self.armed, self.held = None, tx
            self.release.clear()
        log("held tx_id=%s" % tx)
        self.release.wait(hold_ms / 1000.0)
        with self.fp_mu:
            self.held = ""
        log("released tx_id=%s" % tx)

    def send_commits(self, tx):
        with self.mu:
            e = self.log.doc[tx]
            todo = [p for p in e["parts"] if p not in e["acked"]]
        for p in todo:
            if post(self.parts[p], "/commit", {"tx_id": tx}):
                with self.mu:
                    if p not in self.log.doc[tx]["acked"]:
                        self.log.doc[tx]["acked"].append(p)
                        self.log.save()

    def redrive_loop(self):
        while True:
            time.sleep(0.3)
            with self.mu:
                txs = [tx for tx, e in self.log.doc.items()
                       if e["decision"] == "commit" and len(e["acked"]) < len(e["parts"]) and tx not in self.inflight]
            for tx in txs:
                self.send_commits(tx)

    def decision(self, req):
        """A participant asks about a transaction in doubt."""
        tx = req["tx_id"]
        lock = self.tx_lock(tx)
        if not lock.acquire(blocking=False):
            return {"decision": "pending"}
        try:
            d = self.decision_of(tx)
            if d is None:
                self.decide(tx, "abort", [], {})  # presumed abort, made durable first
                d = "abort"
            return {"decision": d}
        finally:
            lock.release()

    def read_balances(self):
        for _ in range(10):
            r = self.read_once()
            if r["outcome"] == "ok":
                return r
            time.sleep(0.02)
        return r

    def read_once(self):
        rid = "r%d-%f" % (threading.get_ident(), time.monotonic())
        locked = []
        for p in sorted(self.parts):
            r = post(self.parts[p], "/read-lock", {"rid": rid})
            if not r or not r["ok"]:
                for q in locked:  # let their transfers go on at once
                    post(self.parts[q], "/read", {"rid": rid})
                return {"outcome": "fail", "error": "read refused by " + p}
            locked.append(p)
        balances = {}
        for p in sorted(self.parts):
            r = post(self.parts[p], "/read", {"rid": rid})
            if not r or not r["ok"]:
                return {"outcome": "fail", "error": "read lock lost on " + p}
            balances.update(r["balances"])
        return {"outcome": "ok", "value": balances}

    def arm(self, participant, hold_ms):
        with self.fp_mu:
            self.armed = (participant, hold_ms)

    def disarm(self):
        with self.fp_mu:
            self.armed = None
        self.release.set()


def handler(node):
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *a):
            pass

        def reply(self, obj, code=200):
            body = (obj if isinstance(obj, str) else json.dumps(obj)).encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            path, _, query = self.path.partition("?")
            if path == "/health":
                return self.reply({"ok": True})
            if path == "/failpoint" and isinstance(node, Coordinator):
                return self.reply(node.held)
            if path == "/observe" and isinstance(node, Participant):
                return self.reply(node.observe())
            if path == "/effects" and isinstance(node, Participant):
                return self.reply(node.observe())
            self.reply({"error": "no such path"}, 404)

        def do_PUT(self):
            path, _, query = self.path.partition("?")
            q = dict(kv.split("=", 1) for kv in query.split("&") if "=" in kv)
            if path == "/failpoint" and isinstance(node, Coordinator):
                node.arm(q["participant"], int(q["hold_ms"]))
                return self.reply("")
            self.reply({"error": "no such path"}, 404)

        def do_DELETE(self):
            if self.path.partition("?")[0] == "/failpoint" and isinstance(node, Coordinator):
                node.disarm()
                return self.reply("")
            self.reply({"error": "no such path"}, 404)

        def do_POST(self):
            try:
                req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                route = {
                    Coordinator: {"/transfer": lambda: node.transfer(req), "/read-balances": lambda: node.read_balances(),
                                  "/decision": lambda: node.decision(req)},
                    Participant: {"/init": lambda: node.init(req), "/prepare": lambda: node.prepare(req),
                                  "/commit": lambda: node.commit(req), "/abort": lambda: node.abort(req),
                                  "/read-lock": lambda: node.read_lock(req), "/read": lambda: node.read(req)},
                }[type(node)]
                if self.path not in route:
                    return self.reply({"error": "no such path"}, 404)
                self.reply(route[self.path]())
            except (ValueError, KeyError) as e:
                self.reply({"error": repr(e)}, 400)

    return H


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--peers", required=True, help="name=host:port,… as this node dials them")
    a = ap.parse_args()
    peers = dict(p.split("=", 1) for p in a.peers.split(",") if p)
    if a.name == "c":
        node = Coordinator(a.data, peers)
    else:
        node = Participant(a.name, a.data, peers["c"])
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.port), handler(node))
    srv.daemon_threads = True
    log("pytwopc %s on 127.0.0.1:%d, peers %s, bug %r" % (a.name, a.port, peers, BUG))
    srv.serve_forever()


if __name__ == "__main__":
    main()
