"""Shared plumbing for scripts/chaos and scripts/bench: the real peers (Spotify emulator, moto
with signature checking on), a TCP proxy that can take S3 "down", an sd_notify listener, the
daemon's config, and reading the bucket back.

Stdlib only, except boto3 (reading the bucket). Nothing here is a mock: every peer is the
project's own test peer, on loopback.
"""
import base64
import gzip
import hashlib
import json
import os
import secrets
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLIENT_ID, CLIENT_SECRET = "test-client", "test-secret"
BUCKET = "spotify-warehouse"
PREFIX = "spotify/"


def http_json(method, url, body=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def wait_port_file(path, proc, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(path) as f:
                s = f.read().strip()
            if s:
                return int(s)
        except (FileNotFoundError, ValueError):
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start (exit {proc.poll()})")


class ChildPeer:
    """A peer run as a child process (`self.proc`): stopping it is SIGTERM, then SIGKILL after 10 s."""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Emulator(ChildPeer):
    """scripts/emulator/spotify_emulator.py, the project's Spotify Web API emulator."""

    def __init__(self, workdir, playlists, items, seed, token_ttl=3600):
        self.port_file = os.path.join(workdir, "emulator.port")
        self.log = open(os.path.join(workdir, "emulator.log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "scripts/emulator/spotify_emulator.py"), "--port", "0",
             "--port-file", self.port_file, "--scenario", "generated", "--playlists", str(playlists),
             "--items", str(items), "--seed", str(seed), "--token-ttl", str(token_ttl), "--exit-with-parent"],
            stdout=self.log, stderr=self.log)
        self.port = wait_port_file(self.port_file, self.proc, 60, "emulator")
        self.base = f"http://127.0.0.1:{self.port}"
        self.api_url = self.base + "/v1"

    def ctl(self, method, path, body=None):
        return http_json(method, self.base + "/_emulator/" + path, body)

    def faults(self, rules):
        return self.ctl("POST", "faults", {"rules": rules})

    def clear_faults(self):
        return self.ctl("DELETE", "faults")

    def stats(self):
        return self.ctl("GET", "stats")

    def truth(self):
        return self.ctl("GET", "truth")

    def playlist_ids(self):
        return self.ctl("GET", "playlists")["ids"]

    def mutate(self, pid, ops):
        return self.ctl("POST", "mutate", {"playlist_id": pid, "ops": ops})

    def tokens(self, **kw):
        return self.ctl("POST", "tokens", kw)

    def refresh_token(self):
        """A refresh token through the real authorization-code + PKCE flow."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        redirect = "http://127.0.0.1:1/callback"
        q = urllib.parse.urlencode({"client_id": CLIENT_ID, "response_type": "code", "redirect_uri": redirect,
                                    "code_challenge": challenge, "code_challenge_method": "S256",
                                    "scope": "playlist-read-private", "state": "chaos"})
        conn = __import__("http.client").client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", "/authorize?" + q)
        loc = conn.getresponse().getheader("Location")
        code = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)["code"][0]
        form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
                                       "code_verifier": verifier}).encode()
        auth = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        req = urllib.request.Request(self.base + "/api/token", data=form, method="POST",
                                     headers={"Authorization": "Basic " + auth,
                                              "Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())["refresh_token"]


class Moto(ChildPeer):
    """scripts/testsupport/moto_server.py: moto S3 + IAM, signature checking on."""

    def __init__(self, workdir, buckets=(BUCKET,)):
        self.port_file = os.path.join(workdir, "moto.port")
        self.log = open(os.path.join(workdir, "moto.log"), "w")
        args = [sys.executable, os.path.join(ROOT, "scripts/testsupport/moto_server.py"), "--port", "0",
                "--port-file", self.port_file]
        for b in buckets:
            args += ["--bucket", b]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)
        self.port = wait_port_file(self.port_file, self.proc, 120, "moto")
        self.endpoint = f"http://127.0.0.1:{self.port}"
        st = http_json("GET", self.endpoint + "/_ts/state")
        self.access_key, self.secret_key = st["access_key"], st["secret_key"]

    def client(self):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))


def bucket_objects(s3, prefix=PREFIX, bucket=BUCKET):
    """key -> decoded rows (NDJSON, gzip or not)."""
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            if body[:2] == b"\x1f\x8b":
                body = gzip.decompress(body)
            out[o["Key"]] = [json.loads(line) for line in body.decode("utf-8").splitlines() if line.strip()]
    return out


class TCPProxy:
    """Forwards 127.0.0.1:port to a target. `down()` closes the listener and every open
    connection (clients see connection refused / resets, as with a dead S3 endpoint);
    `up()` listens on the same port again."""

    def __init__(self, target_port):
        self.target = ("127.0.0.1", target_port)
        self.lock = threading.Lock()
        self.conns = []
        self.listener = None
        self.bytes_up = 0  # client -> target bytes forwarded (e.g. S3 request bodies)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.up()

    def up(self):
        with self.lock:
            if self.listener:
                return
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", self.port))
            s.listen(64)
            self.listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def retarget(self, target_port):
        """New connections go to `target_port`; open ones are cut (a client with a pooled
        connection reconnects, through the new path)."""
        self.down()
        self.target = ("127.0.0.1", target_port)
        self.up()

    def down(self):
        with self.lock:
            s, self.listener = self.listener, None
            conns, self.conns = self.conns, []
        if s:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        for c in conns:
            for x in c:
                try:
                    x.close()
                except OSError:
                    pass

    def _accept(self, s):
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(self.target, timeout=5)
            except OSError:
                c.close()
                continue
            with self.lock:
                if self.listener is not s:
                    c.close(); u.close()
                    return
                self.conns.append((c, u))
            threading.Thread(target=self._pump, args=(c, u), daemon=True).start()

    def _pump(self, a, b):
        try:
            while True:
                r, _, _ = select.select([a, b], [], [], 1.0)
                for x in r:
                    data = x.recv(65536)
                    if not data:
                        raise OSError
                    if x is a:
                        self.bytes_up += len(data)
                    (b if x is a else a).sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            for x in (a, b):
                try:
                    x.close()
                except OSError:
                    pass


class ThrottleProxy(ChildPeer):
    """scripts/testsupport/throttle_proxy.py: a bandwidth-limited TCP proxy to `target_port`
    (one shared link per direction, `rate` bytes/s each)."""

    def __init__(self, workdir, target_port, rate):
        self.port_file = os.path.join(workdir, "throttle.port")
        self.log = open(os.path.join(workdir, "throttle.log"), "w")
        self.conn_log = os.path.join(workdir, "throttle-connections.ndjson")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "scripts/testsupport/throttle_proxy.py"), "--target",
             f"127.0.0.1:{target_port}", "--port", "0", "--port-file", self.port_file, "--rate", str(int(rate)),
             "--log", self.conn_log], stdout=self.log, stderr=self.log)
        self.port = wait_port_file(self.port_file, self.proc, 30, "throttle proxy")

    def connections(self):
        """Closed connections: {"id", "opened", "closed", "up_bytes", "down_bytes"}."""
        try:
            with open(self.conn_log) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []


class IMDS(ChildPeer):
    """scripts/testsupport/imds_emulator.py (IMDSv2), handing out the given key pair."""

    def __init__(self, workdir, access_key, secret_key, expiration=None):
        self.port_file = os.path.join(workdir, "imds.port")
        self.log = open(os.path.join(workdir, "imds.log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "scripts/testsupport/imds_emulator.py"), "--port", "0",
             "--port-file", self.port_file], stdout=self.log, stderr=self.log)
        self.port = wait_port_file(self.port_file, self.proc, 30, "IMDS emulator")
        self.base = f"http://127.0.0.1:{self.port}"
        self.credentials(access_key, secret_key, expiration)

    def credentials(self, access_key, secret_key, expiration=None):
        http_json("POST", self.base + "/_control/credentials",
                  {"access_key": access_key, "secret_key": secret_key, "expiration": expiration})

    def stats(self):
        return http_json("GET", self.base + "/_control/stats")


class NotifyListener:
    """The NOTIFY_SOCKET a systemd service manager would bind: every datagram, timestamped by the
    kernel on arrival (SO_TIMESTAMPNS), so a busy harness cannot make pings look late."""

    SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)

    def __init__(self, path):
        self.path = path
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, self.SO_TIMESTAMPNS, 1)
        self.messages = []
        self.lock = threading.Lock()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                data, anc, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(16))
            except OSError:
                return
            ts = time.time()
            for level, kind, raw in anc:
                if level == socket.SOL_SOCKET and kind == self.SO_TIMESTAMPNS and len(raw) >= 16:
                    sec, nsec = struct.unpack("qq", raw[:16])
                    ts = sec + nsec / 1e9
            with self.lock:
                self.messages.append((ts, data.decode("utf-8", "replace")))

    def since(self, t):
        with self.lock:
            return [m for (ts, m) in self.messages if ts >= t]

    def pings(self):
        with self.lock:
            return [ts for (ts, m) in self.messages if "WATCHDOG=1" in m]


def toml_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def daemon_config(*, api_url, accounts_url, state_path, socket_path, playlist_ids, s3_endpoint=None,
                  out_dir=None, interval="30s", concurrency=4, request_timeout="5s", auth="client_credentials",
                  max_rows=50000, max_age="2s", compression="gzip", jitter=0.1, multipart="5MiB"):
    t = [
        "[spotify]", f"api_url = {toml_str(api_url)}", f"accounts_url = {toml_str(accounts_url)}",
        f"request_timeout = {toml_str(request_timeout)}", f"auth = {toml_str(auth)}", "",
        "[schedule]", f"interval = {toml_str(interval)}", f"concurrency = {concurrency}", f"jitter = {jitter}", "",
        "[state]", f"path = {toml_str(state_path)}", "",
        "[sink]",
    ]
    if s3_endpoint:
        t += ['kind = "s3"', f"bucket = {toml_str(BUCKET)}", f"prefix = {toml_str(PREFIX)}", 'region = "us-east-1"',
              f"endpoint = {toml_str(s3_endpoint)}", "path_style = true", f"multipart_threshold = {toml_str(multipart)}"]
    else:
        t += ['kind = "local"', f"path = {toml_str(out_dir)}"]
    t += [f"max_rows = {max_rows}", f"max_age = {toml_str(max_age)}", f"compression = {toml_str(compression)}", "",
          "[metrics]", 'interval = "60s"', "",
          "[control]", f"socket = {toml_str(socket_path)}", ""]
    for pid in playlist_ids:
        t += ["[[playlists]]", f"id = {toml_str(pid)}", ""]
    return "\n".join(t)


def swift_build(configuration="debug", static_stdlib=False):
    """Builds the daemon; `static_stdlib` links the Swift runtime in, as install.sh ships it."""
    args = ["swift", "build", "--product", "spotifyd-etl"]
    if configuration == "release":
        args += ["-c", "release"]
    if static_stdlib:
        args += ["--static-swift-stdlib"]
    r = subprocess.run(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout[-4000:])
        raise SystemExit(f"swift build failed ({r.returncode})")
    return os.path.join(ROOT, ".build", configuration, "spotifyd-etl")
