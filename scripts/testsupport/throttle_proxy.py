#!/usr/bin/env python3
"""A bandwidth-limited TCP proxy on loopback, for tests of slow uploads (stdlib only, asyncio).

Usage: throttle_proxy.py --target HOST:PORT --port-file FILE [--port 0]
                         [--rate BYTES_PER_S] [--rate-up B] [--rate-down B]
                         [--per-connection] [--buffer BYTES] [--log FILE]

* Listens on 127.0.0.1:PORT (`--port 0` = ephemeral) and forwards every accepted connection
  to --target. Bytes are passed through unchanged, in both directions; nothing is parsed, so
  the Host header (and with it an S3 SigV4 signature) is whatever the client sent.
* Rate limit per direction: "up" = client -> target, "down" = target -> client. --rate sets
  both (default 25000 bytes/s); --rate-up / --rate-down override one direction. 0 = unlimited.
  By default the limit is one shared link per direction (all connections together get the
  rate, as behind one slow uplink); --per-connection gives each connection its own budget.
  A token bucket with a burst of 1/20 s of the rate, so over any second the rate holds within
  a few percent.
* Once listening it writes the bound port (decimal, no newline) to FILE atomically
  (FILE.tmp, rename) and prints `throttle proxy listening on 127.0.0.1:PORT -> HOST:PORT` to
  stderr — the same conventions as moto_server.py and the Spotify emulator.
* The proxy's own sockets get a small SO_RCVBUF (--buffer, default 16 KiB), so the proxy does
  not soak up megabytes of a transfer in its kernel buffers. The SENDER's kernel send buffer
  is not ours to set: on loopback it autotunes to ~4 MB at connect (64 KiB MSS), so a client
  writing a body of a few MB sees its writes complete at once and then waits for the answer
  while the proxy drains the data at the limited rate. A sender with a small SO_SNDBUF sees
  its bytes leave at the limited rate.
* --log FILE: one JSON line per closed connection
  `{"id", "opened", "closed", "up_bytes", "down_bytes"}` (epoch seconds), for tests that want
  to see how long a transfer took.
* SIGTERM / SIGINT: stop accepting, close every connection, exit 0.
"""
import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import time


class TokenBucket:
    """`rate` bytes/s with a small burst; `take(n)` waits until n bytes may pass."""

    def __init__(self, rate: float):
        self.rate = float(rate)
        self.capacity = max(1.0, self.rate / 20.0)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.lock = asyncio.Lock()

    def chunk(self) -> int:
        """The largest read worth doing at once (keeps the burst small)."""
        return 65536 if self.rate <= 0 else max(1, min(16384, int(self.capacity)))

    async def take(self, n: int) -> None:
        if self.rate <= 0:
            return
        async with self.lock:  # FIFO: concurrent connections share the link fairly
            while n > 0:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                step = min(n, self.capacity)
                if self.tokens >= step:
                    self.tokens -= step
                    n -= step
                else:
                    await asyncio.sleep((step - self.tokens) / self.rate)


class Proxy:
    def __init__(self, target_host, target_port, rate_up, rate_down, per_connection, log_path, buffer):
        self.target = (target_host, target_port)
        self.buffer = buffer
        self.rates = (rate_up, rate_down)
        self.per_connection = per_connection
        self.shared = (TokenBucket(rate_up), TokenBucket(rate_down))
        self.log_path = log_path
        self.tasks = set()
        self.next_id = 0

    async def handle(self, reader, writer):
        task = asyncio.current_task()
        self.tasks.add(task)
        self.next_id += 1
        rec = {"id": self.next_id, "opened": time.time(), "closed": None, "up_bytes": 0, "down_bytes": 0}
        up_bucket, down_bucket = (TokenBucket(self.rates[0]), TokenBucket(self.rates[1])) \
            if self.per_connection else self.shared
        try:
            try:
                t_reader, t_writer = await self.connect_target()
            except OSError as e:
                print(f"throttle proxy: cannot reach {self.target[0]}:{self.target[1]}: {e}", file=sys.stderr, flush=True)
                return
            up = asyncio.ensure_future(self.pump(reader, t_writer, up_bucket, rec, "up_bytes"))
            down = asyncio.ensure_future(self.pump(t_reader, writer, down_bucket, rec, "down_bytes"))
            try:
                await asyncio.gather(up, down)
            finally:
                up.cancel()
                down.cancel()
                t_writer.close()
        except asyncio.CancelledError:
            pass
        finally:
            writer.close()
            rec["closed"] = time.time()
            self.tasks.discard(task)
            if self.log_path:
                with open(self.log_path, "a") as f:
                    f.write(json.dumps(rec) + "\n")

    async def connect_target(self):
        # A small receive buffer here too, so a fast target cannot park a whole response in
        # the proxy's kernel buffer (the same reason as for the listening socket).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.buffer)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, self.target)
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock)

    @staticmethod
    async def pump(reader, writer, bucket, rec, counter):
        try:
            while True:
                data = await reader.read(bucket.chunk())
                if not data:
                    break
                await bucket.take(len(data))
                writer.write(data)
                await writer.drain()
                rec[counter] += len(data)
        except (ConnectionError, OSError):
            pass
        finally:
            # Half-close: the peer sees EOF in this direction, the other keeps flowing.
            try:
                if writer.can_write_eof():
                    writer.write_eof()
            except (ConnectionError, OSError, RuntimeError):
                pass


def parse_rate(text: str) -> float:
    v = float(text)
    if v < 0:
        raise argparse.ArgumentTypeError("rate must be >= 0")
    return v


async def main_async(args) -> int:
    host, _, port = args.target.rpartition(":")
    proxy = Proxy(host or "127.0.0.1", int(port),
                  args.rate if args.rate_up is None else args.rate_up,
                  args.rate if args.rate_down is None else args.rate_down,
                  args.per_connection, args.log, args.buffer)
    # Small socket buffers (set on the listening socket, inherited by accepted ones): without
    # them the kernel takes a whole upload into the proxy's receive buffer at once (megabytes
    # on loopback), so the client would see every byte "sent" in a moment and then wait for
    # the answer, instead of seeing its bytes trickle out at the limited rate.
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.buffer)
    lsock.bind(("127.0.0.1", args.port))
    server = await asyncio.start_server(proxy.handle, sock=lsock)
    bound = lsock.getsockname()[1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(bound))
        os.replace(tmp, args.port_file)
    print(f"throttle proxy listening on 127.0.0.1:{bound} -> {args.target}", file=sys.stderr, flush=True)
    await stop.wait()
    server.close()
    for t in list(proxy.tasks):
        t.cancel()
    if proxy.tasks:
        await asyncio.wait(list(proxy.tasks), timeout=2)
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description="bandwidth-limited TCP proxy for tests")
    ap.add_argument("--target", required=True, help="HOST:PORT to forward to")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--rate", type=parse_rate, default=25000.0, help="bytes/s per direction (0 = unlimited)")
    ap.add_argument("--rate-up", type=parse_rate, default=None)
    ap.add_argument("--rate-down", type=parse_rate, default=None)
    ap.add_argument("--per-connection", action="store_true")
    ap.add_argument("--log")
    ap.add_argument("--buffer", type=int, default=16384,
                    help="SO_RCVBUF of the proxy's sockets, bytes (the kernel doubles it)")
    args = ap.parse_args()
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
