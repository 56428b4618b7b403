#!/usr/bin/env python3
"""moto S3 (+IAM) server for the Swift tests, with signature checking ON.

Usage: moto_server.py --port-file FILE [--port 0] [--bucket NAME ...]

What it adds to moto 5.2.1's own server:

* Signature check against the raw request URI. moto rebuilds the canonical request from
  the *decoded* path and query, so correct signatures for keys containing `=`, `+`, `%`,
  spaces or non-ASCII (every `dt=` key) and for `?prefix=a%2F` are rejected. The seam is
  `S3IAMRequest._create_aws_request` (moto/iam/access_control.py): we rebuild the request's
  URL from the raw URI werkzeug saw (environ RAW_URI, carried in a thread-local by a WSGI
  middleware), re-encoding each path segment and query pair with the AWS rule
  (decode, then encode everything but unreserved) — what S3 itself does. A client that
  encodes wrongly (e.g. sends and signs a bare `=`) is still rejected, as by AWS.
* Auth switched on after setup: an IAM user with an allow-all inline policy and an access
  key are created while auth is off (moto's default INITIAL_NO_AUTH_ACTION_COUNT is
  infinite), then POST /moto-api/reset-auth with body "0" switches signature checking on,
  so moto requires a valid signature on every further request.
* Control endpoints under /_ts/ (unsigned, test only):
    GET  /_ts/state            -> {"access_key", "secret_key", "user"}
    POST /_ts/keys/create      -> {"access_key", "secret_key"} (a new key for the same user)
    POST /_ts/keys/delete?id=K -> {"deleted": K}
The port is written to --port-file only when all of this is done.
"""
import argparse
import json
import os
import sys
import threading
from urllib.parse import quote, unquote, urlparse

os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")

from moto.iam import access_control  # noqa: E402
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

_local = threading.local()


def _aws_encode(s: str, safe: str) -> str:
    return quote(unquote(s), safe=safe)


def _canonical_url_from_raw(raw_uri: str) -> str:
    parsed = urlparse(raw_uri)
    path = _aws_encode(parsed.path or "/", "/~")
    if not parsed.query:
        return path
    pairs = []
    for item in parsed.query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((_aws_encode(name, "-_.~"), _aws_encode(value, "-_.~")))
    return path + "?" + "&".join(f"{k}={v}" for k, v in pairs)


_original_create = access_control.S3IAMRequest._create_aws_request


def _create_aws_request_raw(self):  # type: ignore[no-untyped-def]
    request = _original_create(self)
    raw = getattr(_local, "raw_uri", None)
    if raw:
        request.url = _canonical_url_from_raw(raw)
    return request


access_control.S3IAMRequest._create_aws_request = _create_aws_request_raw


class App:
    def __init__(self, inner, state):
        self.inner = inner
        self.state = state

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_ts/"):
            return self.control(environ, start_response)
        _local.raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        try:
            return self.inner(environ, start_response)
        finally:
            _local.raw_uri = None

    def control(self, environ, start_response):
        path = environ["PATH_INFO"]
        query = dict(p.split("=", 1) for p in environ.get("QUERY_STRING", "").split("&") if "=" in p)
        try:
            if path == "/_ts/state":
                out = self.state.public()
            elif path == "/_ts/keys/create":
                out = self.state.create_key()
            elif path == "/_ts/keys/delete":
                self.state.delete_key(unquote(query["id"]))
                out = {"deleted": query["id"]}
            else:
                start_response("404 Not Found", [("Content-Type", "application/json")])
                return [b'{"error":"unknown control path"}']
        except Exception as e:  # report, never crash the server
            start_response("500 Internal Server Error", [("Content-Type", "application/json")])
            return [json.dumps({"error": repr(e)}).encode()]
        body = json.dumps(out).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


class State:
    user = "etl-test"

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.admin = None

    def _iam(self):
        import boto3
        key, secret = self.admin if self.admin else ("bootstrap", "bootstrap")
        return boto3.client("iam", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=key, aws_secret_access_key=secret)

    def setup(self, buckets):
        import boto3
        iam = self._iam()
        iam.create_user(UserName=self.user)
        iam.put_user_policy(UserName=self.user, PolicyName="all", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        k = iam.create_access_key(UserName=self.user)["AccessKey"]
        self.admin = (k["AccessKeyId"], k["SecretAccessKey"])
        s3 = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                          aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
        for b in buckets:
            s3.create_bucket(Bucket=b)
        # Switch signature checking on: POST /moto-api/reset-auth with body "0". The body must
        # not be sent as a form (moto reads the raw body, which werkzeug empties for forms).
        import urllib.request
        req = urllib.request.Request(self.endpoint + "/moto-api/reset-auth", data=b"0", method="POST",
                                     headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            answer = json.load(resp)
        if answer.get("status") != "ok":
            raise RuntimeError(f"reset-auth failed: {answer}")

    def public(self):
        return {"access_key": self.admin[0], "secret_key": self.admin[1], "user": self.user}

    def create_key(self):
        k = self._iam().create_access_key(UserName=self.user)["AccessKey"]
        return {"access_key": k["AccessKeyId"], "secret_key": k["SecretAccessKey"]}

    def delete_key(self, key_id):
        self._iam().delete_access_key(UserName=self.user, AccessKeyId=key_id)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--bucket", action="append", default=[])
    args = ap.parse_args()

    inner = DomainDispatcherApplication(create_backend_app)
    state = State("")
    server = make_server("127.0.0.1", args.port, App(inner, state), threaded=True)
    port = server.server_port
    state.endpoint = f"http://127.0.0.1:{port}"
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    state.setup(args.bucket)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(port))
    os.replace(tmp, args.port_file)
    print(f"moto listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    try:
        t.join()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
