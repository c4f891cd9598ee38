#!/usr/bin/env python3
"""pytwopc's chaoscheck client: JSON lines on stdin and stdout (protocol 1,
docs/own-system.md), for the bank and retry workloads.

  transfer        POST c/transfer: ok when the commit decision is durable;
                  fail when the coordinator answers "aborted: …" (decided)
                  or the connection was refused; info otherwise
  read-balances   POST c/read-balances: a read under every participant's
                  locks; fail when refused (a read changes nothing)
  final-read      GET p/effects on every participant: per participant, the
                  effect rows of each tx_id; fail while any is in doubt
"""

import http.client
import json
import sys


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Refused(Exception):
    pass


def call(addr, method, path, body, timeout):
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        try:
            conn.connect()
        except ConnectionRefusedError as e:
            raise Refused(str(e))
        conn.request(method, path, json.dumps(body) if body is not None else None, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise OSError("HTTP %d: %s" % (resp.status, data[:200]))
        return json.loads(data)
    finally:
        conn.close()


def perform(nodes, hello, op, timeout):
    f = op.get("f")
    if f == "transfer":
        body = dict(op["value"], tx_id=op["tx_id"])
        try:
            r = call(nodes["c"], "POST", "/transfer", body, timeout)
        except Refused as e:
            return {"type": "fail", "node": "c", "error": "refused: %s" % e}
        except (OSError, ValueError, http.client.HTTPException) as e:
            return {"type": "info", "node": "c", "error": "%s: %s" % (type(e).__name__, e)}
        if r["outcome"] == "ok":
            return {"type": "ok", "node": "c"}
        return {"type": "fail", "node": "c", "error": r["error"]}
    if f == "read-balances":
        try:
            r = call(nodes["c"], "POST", "/read-balances", {}, timeout)
        except (Refused, OSError, ValueError, http.client.HTTPException) as e:
            return {"type": "fail", "node": "c", "error": "%s: %s" % (type(e).__name__, e)}
        if r["outcome"] != "ok":
            return {"type": "fail", "node": "c", "error": r["error"]}
        return {"type": "ok", "node": "c", "value": r["value"]}
    if f == "final-read":
        effects = {}
        for p in participants(hello):
            try:
                r = call(nodes[p], "GET", "/effects", None, timeout)
            except (Refused, OSError, ValueError, http.client.HTTPException) as e:
                return {"type": "fail", "node": p, "error": "%s: %s" % (type(e).__name__, e)}
            if r["in_doubt"]:
                return {"type": "fail", "node": p, "error": "in doubt: %s" % r["in_doubt"]}
            effects[p] = r["effects"]
        return {"type": "ok", "value": effects}
    return {"type": "fail", "error": "pytwopc client: unknown f %r" % f}


def participants(hello):
    return sorted({a.split("/")[0] for a in hello["accounts"]})


def main():
    hello = json.loads(sys.stdin.readline())
    nodes = {n["name"]: n["addrs"]["http"] for n in hello["nodes"]}
    timeout = hello["op_timeout_ms"] / 1000.0 * 0.8
    send({"type": "ready"})
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["type"] == "setup":
            body = {"accounts": hello["accounts"], "initial_balance": hello["initial_balance"]}
            try:
                for p in participants(hello):
                    call(nodes[p], "POST", "/init", body, timeout)
                send({"type": "ok"})
            except (Refused, OSError, ValueError, http.client.HTTPException) as e:
                send({"type": "fail", "error": "%s: %s" % (type(e).__name__, e)})
            continue
        out = perform(nodes, hello, msg, timeout)
        out["index"] = msg["index"]
        send(out)


if __name__ == "__main__":
    main()
