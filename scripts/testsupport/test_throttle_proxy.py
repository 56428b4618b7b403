"""Self-test of throttle_proxy.py: bytes pass intact both ways, and the rate is really limited.

python3 -m unittest scripts/testsupport/test_throttle_proxy.py  (stdlib only; ~15 s)
"""
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PROXY = os.path.join(HERE, "throttle_proxy.py")


class EchoServer:
    """Loopback TCP server: reads until EOF, answers with sha256(received) + a reply payload."""

    def __init__(self, reply_bytes: int):
        self.reply = os.urandom(reply_bytes)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.one, args=(c,), daemon=True).start()

    def one(self, c):
        h = hashlib.sha256()
        with c:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                h.update(d)
            c.sendall(h.digest() + self.reply)

    def close(self):
        self.sock.close()


class ProxyProcess:
    def __init__(self, target_port: int, *args: str):
        self.dir = tempfile.mkdtemp(prefix="throttle-test-")
        self.cleanup_dir = lambda: shutil.rmtree(self.dir, ignore_errors=True)
        self.port_file = os.path.join(self.dir, "port")
        self.log = os.path.join(self.dir, "conn.log")
        self.p = subprocess.Popen([sys.executable, PROXY, "--target", f"127.0.0.1:{target_port}",
                                   "--port-file", self.port_file, "--log", self.log, *args],
                                  stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 10
        while time.time() < deadline and not os.path.exists(self.port_file):
            time.sleep(0.05)
        with open(self.port_file) as f:
            self.port = int(f.read())

    def stop(self) -> int:
        self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout=10)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()
            self.p.stderr.close()


def exchange(port: int, payload: bytes):
    """Sends payload, half-closes, reads everything back. Returns (answer, seconds)."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            d = s.recv(65536)
            if not d:
                break
            chunks.append(d)
    return b"".join(chunks), time.monotonic() - t0


class ThrottleProxyTests(unittest.TestCase):
    def setUp(self):
        self.echo = EchoServer(reply_bytes=100_000)
        self.addCleanup(self.echo.close)

    def proxy(self, *args):
        p = ProxyProcess(self.echo.port, *args)
        self.addCleanup(p.cleanup_dir)
        return p

    def test_upload_rate_is_limited_and_bytes_intact_both_ways(self):
        proxy = self.proxy("--rate-up", "50000", "--rate-down", "0")
        try:
            payload = os.urandom(150_000)  # 3 s at 50 KB/s
            answer, secs = exchange(proxy.port, payload)
            self.assertEqual(answer[:32], hashlib.sha256(payload).digest(), "upstream bytes changed")
            self.assertEqual(answer[32:], self.echo.reply, "downstream bytes changed")
            # 150 KB at 50 KB/s = 3 s; the burst is 1/20 s of the rate.
            self.assertGreaterEqual(secs, 2.7, f"upload not throttled: {secs:.2f}s")
            self.assertLess(secs, 4.5, f"upload throttled too hard: {secs:.2f}s")
        finally:
            self.assertEqual(proxy.stop(), 0, "SIGTERM must exit 0")
        with open(proxy.log) as f:
            rec = [json.loads(line) for line in f]
        self.assertEqual(len(rec), 1)
        self.assertEqual(rec[0]["up_bytes"], 150_000)
        self.assertEqual(rec[0]["down_bytes"], 100_032)

    def test_download_rate_is_limited(self):
        proxy = self.proxy("--rate", "40000")
        try:
            answer, secs = exchange(proxy.port, b"x" * 1000)
            self.assertEqual(answer[32:], self.echo.reply)
            # ~101 KB back at 40 KB/s ≈ 2.5 s (the 1000 bytes up are within the burst).
            self.assertGreaterEqual(secs, 2.2, f"download not throttled: {secs:.2f}s")
            self.assertLess(secs, 3.8, f"download throttled too hard: {secs:.2f}s")
        finally:
            self.assertEqual(proxy.stop(), 0)

    def test_concurrent_connections_share_the_link(self):
        proxy = self.proxy("--rate-up", "100000", "--rate-down", "0")
        try:
            payloads = [os.urandom(60_000) for _ in range(5)]  # 300 KB total at 100 KB/s = 3 s
            results = [None] * 5

            def run(i):
                results[i] = exchange(proxy.port, payloads[i])

            threads = [threading.Thread(target=run, args=(i,)) for i in range(5)]
            t0 = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            total = time.monotonic() - t0
            for i, (answer, _) in enumerate(results):
                self.assertEqual(answer[:32], hashlib.sha256(payloads[i]).digest())
                self.assertEqual(answer[32:], self.echo.reply)
            self.assertGreaterEqual(total, 2.7, f"shared link faster than its rate: {total:.2f}s")
            self.assertLess(total, 4.5, f"{total:.2f}s")
        finally:
            self.assertEqual(proxy.stop(), 0)

    def test_per_connection_budgets_and_sigterm_with_open_connections(self):
        proxy = self.proxy("--rate-up", "100000", "--rate-down", "0", "--per-connection")
        try:
            payloads = [os.urandom(100_000) for _ in range(3)]  # each 1 s on its own budget
            results = [None] * 3
            threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, exchange(proxy.port, payloads[i])))
                       for i in range(3)]
            t0 = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            total = time.monotonic() - t0
            self.assertTrue(all(r and r[0][:32] == hashlib.sha256(p).digest() for r, p in zip(results, payloads)))
            self.assertLess(total, 2.4, f"per-connection budgets were shared: {total:.2f}s")
            self.assertGreaterEqual(total, 0.8)
            # A connection left open must not keep the proxy from exiting on SIGTERM.
            idle = socket.create_connection(("127.0.0.1", proxy.port))
            self.addCleanup(idle.close)
            idle.sendall(b"hello")
            time.sleep(0.2)
        finally:
            t0 = time.monotonic()
            self.assertEqual(proxy.stop(), 0)
            self.assertLess(time.monotonic() - t0, 5)


if __name__ == "__main__":
    unittest.main()
