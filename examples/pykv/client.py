#!/usr/bin/env python3
"""pykv's chaoscheck client: JSON lines on stdin and stdout (protocol 1,
docs/own-system.md). One program per history process, one op at a time.

How an op's outcome is decided (the rules a client must keep):
  ok    the node said the change was chosen
  fail  certainly not applied: the connection was refused (the request
        never reached a node), the node said fail, or a read got no answer
        (a read changes nothing). After a fail the next node is tried,
        while the op's time lasts.
  info  anything else: a timeout, a dropped connection, an unknown outcome
"""

import http.client
import json
import random
import sys
import time

SET_KEY = "__set__"
BANK_KEY = "__bank__"


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def call(addr, body, timeout):
    """POSTs /op; returns the node's answer, or raises Refused (never
    reached the node) or OSError (anything after the request may have
    left)."""
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        try:
            conn.connect()
        except ConnectionRefusedError as e:
            raise Refused(str(e))
        conn.request("POST", "/op", json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise OSError("HTTP %d: %s" % (resp.status, data[:200]))
        return json.loads(data)
    finally:
        conn.close()


# A fail the system decided (not a node that could not serve): final.
FAIL_ERRORS = {"cas": "cas: value differs", "transfer": "insufficient funds"}


class Refused(Exception):
    pass


def perform(addrs, op, timeout_s):
    f, key, value = op["f"], op.get("key"), op.get("value")
    if f == "read":
        body = {"f": "read", "key": key}
    elif f == "write":
        body = {"f": "write", "key": key, "value": value}
    elif f == "cas":
        body = {"f": "cas", "key": key, "from": value[0], "to": value[1]}
    elif f == "add":
        body = {"f": "add", "key": SET_KEY, "value": value}
    elif f == "read-all":
        body = {"f": "read", "key": SET_KEY}
    elif f == "transfer":
        body = dict(value, f="transfer", key=BANK_KEY, tx_id=op["tx_id"])
    elif f in ("read-balances", "final-read"):
        body = {"f": "read", "key": BANK_KEY}
    elif f == "init-bank":
        body = dict(op, key=BANK_KEY)
    else:
        return {"type": "fail", "error": "pykv client: unknown f %r" % f}
    reads = f in ("read", "read-all", "read-balances", "final-read")
    # A definite fail (refused, no quorum) changed nothing, so the next
    # node may be tried, while the time lasts; anything else is final.
    deadline = time.monotonic() + timeout_s * 0.8
    nodes = random.sample(addrs, len(addrs))
    out = None
    for node, addr in nodes:
        left = deadline - time.monotonic()
        if left < 0.05:
            break
        # The node's budget is below ours, so it answers before we give up.
        body["timeout_ms"] = int(left * 1000 * 0.6)
        out = attempt(node, addr, body, f, reads, left)
        if out["type"] != "fail" or out.get("error") == FAIL_ERRORS.get(f):
            return out
    return out or {"type": "fail", "error": "no time left to try a node"}


def attempt(node, addr, body, f, reads, timeout):
    try:
        r = call(addr, body, timeout)
    except Refused as e:
        return {"type": "fail", "node": node, "error": "refused: " + str(e)}
    except (OSError, ValueError, http.client.HTTPException) as e:
        return {"type": "fail" if reads else "info", "node": node, "error": "%s: %s" % (type(e).__name__, e)}
    if r["outcome"] == "ok":
        out = {"type": "ok", "node": r["node"]}
        if reads:
            out["value"] = r["value"]
            if f == "read-balances":
                out["value"] = r["value"]["balances"]
            elif f == "final-read":
                out["value"] = r["value"]["effects"]
        return out
    if r["outcome"] == "fail":
        if r["reason"] == "refused":
            return {"type": "fail", "node": r["node"], "error": FAIL_ERRORS.get(f, "refused")}
        return {"type": "fail", "node": r["node"], "error": "no quorum"}
    return {"type": "fail" if reads else "info", "node": r["node"], "error": "outcome unknown"}


def main():
    hello = json.loads(sys.stdin.readline())
    addrs = [(n["name"], n["addrs"]["http"]) for n in hello["nodes"]]
    timeout_s = hello["op_timeout_ms"] / 1000.0
    send({"type": "ready"})
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["type"] == "setup":
            # Registers start at 0 and the set empty without being
            # created; the bank's accounts are opened once. A quorum round
            # says the cluster serves.
            if hello.get("accounts"):
                r = perform(addrs, {"f": "init-bank", "accounts": hello["accounts"],
                                    "initial_balance": hello["initial_balance"]}, timeout_s)
            else:
                r = perform(addrs, {"f": "read", "key": "k0"}, timeout_s)
            send({"type": r["type"], "error": r.get("error", "")})
            continue
        out = perform(addrs, msg, timeout_s)
        out["index"] = msg["index"]
        send(out)


if __name__ == "__main__":
    main()
