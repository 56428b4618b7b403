#!/usr/bin/env python3
"""EC2 instance metadata service (IMDSv2 subset) emulator for the credentials tests. Stdlib only.

Usage: imds_emulator.py --port-file FILE [--port 0] [--role NAME]

  PUT /latest/api/token   (needs X-aws-ec2-metadata-token-ttl-seconds 1..21600) -> token
  GET /latest/meta-data/iam/security-credentials/        -> role name   (needs a valid token, else 401)
  GET /latest/meta-data/iam/security-credentials/<role>  -> credentials JSON
Control (test only):
  POST /_control/credentials {"access_key","secret_key","token"?,"expiration"?}  (rotate)
  POST /_control/outage {"mode": "off"|"drop"|"500"|"garbage"|"slow"}  every metadata request from
       now on: "drop" closes the connection without an answer, "500" answers HTTP 500, "garbage"
       answers 200 with a body that is not the expected text/JSON, "slow" waits 5 s before
       answering normally (past the daemon's 2 s timeout); "off" serves again and forgets the
       session tokens handed out before (as a restarted IMDS would)
  GET  /_control/stats -> {"token": n, "role": n, "credentials": n, "unauthorized": n, "outage": n}
"""
import argparse
import datetime
import json
import os
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {
    "creds": {"access_key": "", "secret_key": "", "token": None, "expiration": None},
    "tokens": set(),
    "stats": {"token": 0, "role": 0, "credentials": 0, "unauthorized": 0, "outage": 0},
    "role": "etl-role",
    "outage": "off",
}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def reply(self, status, body, ctype="text/plain"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def outage(self):
        """Answers a metadata request as the current outage mode says; True when it did."""
        with LOCK:
            mode = STATE["outage"]
            if mode != "off":
                STATE["stats"]["outage"] += 1
        if mode == "off":
            return False
        if mode == "slow":
            time.sleep(5)
            return False
        if mode == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return True
        if mode == "500":
            self.reply(500, "internal error")
            return True
        self.reply(200, b"\x00\xffnot-metadata{{{", "application/octet-stream")
        return True

    def do_PUT(self):
        self.body()
        if self.path != "/latest/api/token":
            return self.reply(404, "not found")
        if self.outage():
            return
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        if not ttl or not ttl.isdigit() or not (1 <= int(ttl) <= 21600):
            return self.reply(400, "missing or invalid ttl")
        tok = secrets.token_urlsafe(24)
        with LOCK:
            STATE["tokens"].add(tok)
            STATE["stats"]["token"] += 1
        self.reply(200, tok)

    def do_POST(self):
        raw = self.body()
        if self.path == "/_control/credentials":
            spec = json.loads(raw or b"{}")
            with LOCK:
                STATE["creds"] = {"access_key": spec["access_key"], "secret_key": spec["secret_key"],
                                  "token": spec.get("token"), "expiration": spec.get("expiration")}
            return self.reply(200, "{}", "application/json")
        if self.path == "/_control/outage":
            mode = json.loads(raw or b"{}").get("mode", "off")
            if mode not in ("off", "drop", "500", "garbage", "slow"):
                return self.reply(400, "unknown mode")
            with LOCK:
                if mode == "off" and STATE["outage"] != "off":
                    STATE["tokens"].clear()
                STATE["outage"] = mode
            return self.reply(200, "{}", "application/json")
        self.reply(404, "not found")

    def do_GET(self):
        if self.path == "/_control/stats":
            with LOCK:
                return self.reply(200, json.dumps(STATE["stats"]), "application/json")
        base = "/latest/meta-data/iam/security-credentials/"
        if not self.path.startswith(base):
            return self.reply(404, "not found")
        if self.outage():
            return
        with LOCK:
            ok = self.headers.get("X-aws-ec2-metadata-token") in STATE["tokens"]
            if not ok:
                STATE["stats"]["unauthorized"] += 1
        if not ok:
            return self.reply(401, "unauthorized")
        rest = self.path[len(base):]
        if rest == "":
            with LOCK:
                STATE["stats"]["role"] += 1
            return self.reply(200, STATE["role"])
        if rest != STATE["role"]:
            return self.reply(404, "no such role")
        with LOCK:
            STATE["stats"]["credentials"] += 1
            c = dict(STATE["creds"])
        exp = c["expiration"] or (datetime.datetime.now(datetime.timezone.utc)
                                  + datetime.timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
        doc = {"Code": "Success", "LastUpdated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "Type": "AWS-HMAC", "AccessKeyId": c["access_key"], "SecretAccessKey": c["secret_key"],
               "Expiration": exp}
        if c["token"]:
            doc["Token"] = c["token"]
        self.reply(200, json.dumps(doc), "application/json")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--role", default="etl-role")
    args = ap.parse_args()
    STATE["role"] = args.role
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
