#!/usr/bin/env python3
"""Resource benchmark of the long-running daemon (not a test).

Starts the Spotify emulator with N playlists, runs the release daemon with `interval` polling
against it for a while, and samples the daemon's CPU time, RSS and open file descriptors every
few seconds from /proc, while a bound sd_notify socket counts WATCHDOG=1 pings.

  python3 bench/daemon/resources.py [--playlists 500] [--items 20] [--interval 1m]
                                    [--minutes 10] [--binary .build/release/spotifyd-etl]
                                    [--metrics-listen]

Reports: idle CPU% (the quietest 10-second windows, i.e. between polls) and mean CPU%, steady
RSS (median and max after the first poll cycle), fd count (min/max after warm-up), and whether
the watchdog ever missed (largest gap between pings vs. the WatchdogSec it was given).
"""
import argparse, json, os, signal, socket, statistics, subprocess, sys, tempfile, threading, time, urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "testsupport"))
from unit_env import unit_environment  # noqa: E402
CLK = os.sysconf("SC_CLK_TCK")


def proc_sample(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    cpu = (int(parts[11]) + int(parts[12])) / CLK
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return cpu, rss, fds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--playlists", type=int, default=500)
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--interval", default="1m")
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build/release/spotifyd-etl"))
    ap.add_argument("--watchdog-sec", type=float, default=10)
    ap.add_argument("--metrics-listen", action="store_true",
                    help="turn on the Prometheus listener ([metrics] listen on a free loopback port) and scrape it every 15 s")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="spotifyd-res-")
    port_file = os.path.join(tmp, "port")
    emu = subprocess.Popen([sys.executable, os.path.join(ROOT, "scripts/emulator/spotify_emulator.py"), "--port", "0",
                            "--port-file", port_file, "--scenario", "generated", "--playlists", str(a.playlists),
                            "--items", str(a.items), "--seed", "5", "--exit-with-parent"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            if os.path.exists(port_file):
                break
            time.sleep(0.1)
        port = int(open(port_file).read())
        truth = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/_emulator/truth"))
        ids = [p["id"] for p in truth["playlists"]]
        cfg = os.path.join(tmp, "c.toml")
        subprocess.check_call([sys.executable, os.path.join(ROOT, "scripts/make-config.py"), "--sample",
                               os.path.join(ROOT, "etc/spotifyd-etl.toml"), "--out", cfg, "--var", tmp,
                               "--api-url", f"http://127.0.0.1:{port}/v1", "--accounts-url", f"http://127.0.0.1:{port}",
                               "--playlists", ",".join(ids), "--interval", a.interval])
        metrics_url = None
        if a.metrics_listen:
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            mport = probe.getsockname()[1]
            probe.close()
            text = open(cfg).read()
            assert "[metrics]" in text, "the sample config has a [metrics] section"
            text = text.replace("[metrics]", f'[metrics]\nlisten = "127.0.0.1:{mport}"', 1)
            open(cfg, "w").write(text)
            metrics_url = f"http://127.0.0.1:{mport}/metrics"

        sock_path = os.path.join(tmp, "notify.sock")
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(sock_path)
        pings, ready = [], threading.Event()

        def listen():
            while True:
                try:
                    msg = ns.recv(4096).decode()
                except OSError:
                    return
                if "WATCHDOG=1" in msg:
                    pings.append(time.monotonic())
                if "READY=1" in msg:
                    ready.set()
        threading.Thread(target=listen, daemon=True).start()

        # The environment the systemd unit sets (Environment= lines), then the test credentials.
        env = dict(os.environ, **unit_environment(), SPOTIFY_CLIENT_ID="test-client", SPOTIFY_CLIENT_SECRET="test-secret",
                   NOTIFY_SOCKET=sock_path, WATCHDOG_USEC=str(int(a.watchdog_sec * 1e6)))
        env.pop("JOURNAL_STREAM", None)
        d = subprocess.Popen([a.binary, "run", "--config", cfg], env=env,
                             stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "daemon.log"), "w"))
        ready.wait(30)
        start = time.monotonic()
        samples = []
        scrapes, last_scrape = 0, -1e9
        while time.monotonic() - start < a.minutes * 60:
            samples.append((time.monotonic() - start,) + proc_sample(d.pid))
            if metrics_url and time.monotonic() - last_scrape >= 15:
                last_scrape = time.monotonic()
                urllib.request.urlopen(metrics_url, timeout=5).read()
                scrapes += 1
            time.sleep(2)
        d.send_signal(signal.SIGTERM)
        d.wait(60)

        warm = [s for s in samples if s[0] >= 90] or samples
        windows = []  # CPU% per 10 s window
        for i in range(len(samples) - 5):
            t0, c0 = samples[i][0], samples[i][1]
            t1, c1 = samples[i + 5][0], samples[i + 5][1]
            if t0 >= 90:
                windows.append(100.0 * (c1 - c0) / (t1 - t0))
        windows.sort()
        quiet = windows[: max(1, len(windows) // 10)]
        total_cpu = samples[-1][1] - samples[0][1]
        span = samples[-1][0] - samples[0][0]
        gaps = [b - a_ for a_, b in zip(pings, pings[1:])]
        stats = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/_emulator/stats"))
        out = {
            "playlists": a.playlists, "interval": a.interval, "minutes": a.minutes,
            "cpu_percent_mean": round(100.0 * total_cpu / span, 3),
            "cpu_percent_idle_quietest_10pct_windows": round(statistics.mean(quiet), 3),
            "rss_mb_median_after_warmup": round(statistics.median(s[2] for s in warm) / 1e6, 1),
            "rss_mb_max_after_warmup": round(max(s[2] for s in warm) / 1e6, 1),
            "fds_min_max_after_warmup": [min(s[3] for s in warm), max(s[3] for s in warm)],
            "watchdog_pings": len(pings),
            "watchdog_max_gap_s": round(max(gaps), 2) if gaps else None,
            "watchdog_sec": a.watchdog_sec,
            "watchdog_never_missed": bool(gaps) and max(gaps) < a.watchdog_sec,
            "daemon_exit": d.returncode,
            "api_requests": stats["requests"],
            "metrics_listener": bool(metrics_url), "prometheus_scrapes": scrapes,
        }
        print(json.dumps(out, indent=2))
    finally:
        emu.terminate()
        emu.wait(10)


if __name__ == "__main__":
    main()
