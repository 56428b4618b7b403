"""The seed-style benchmark peer (bench/seed-peer/pipeline.py: spotipy + pandas + boto3) writes
the same rows as the requests + boto3 peer (bench/python-peer/pipeline.py), so that scripts/bench
compares like for like: on a small generated scenario (episodes, local files, null items and a
second page included), an initial cycle and a cycle after random mutations of one of the two
playlists (the other one, unchanged, must produce no events from either), table by table,
ignoring row order; and both send the same number of API requests.

Run: python3 -m unittest scripts/testsupport/test_seed_peer.py   (needs spotipy, pandas, moto)
"""
import collections
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "chaos.d"))
import peers  # noqa: E402


def rows_by_table(s3, prefix):
    """table -> sorted canonical rows of every object under prefix, observed_at dropped."""
    out = collections.defaultdict(list)
    for key, rows in peers.bucket_objects(s3, prefix=prefix).items():
        table = key[len(prefix):].split("/", 1)[0]
        out[table] += [repr(sorted((k, v) for k, v in r.items() if k != "observed_at")) for r in rows]
    return {t: sorted(v) for t, v in out.items()}


class SeedPeerMatchesPythonPeer(unittest.TestCase):
    def test_same_rows_and_requests(self):
        work = tempfile.mkdtemp(prefix="seed-peer-")
        emu = peers.Emulator(work, 2, 110, 5)
        self.addCleanup(emu.stop)
        moto = peers.Moto(work)
        self.addCleanup(moto.stop)
        env = dict(os.environ, SPOTIFY_CLIENT_ID=peers.CLIENT_ID, SPOTIFY_CLIENT_SECRET=peers.CLIENT_SECRET,
                   AWS_ACCESS_KEY_ID=moto.access_key, AWS_SECRET_ACCESS_KEY=moto.secret_key,
                   AWS_EC2_METADATA_DISABLED="true", AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
                   AWS_CONFIG_FILE="/nonexistent")
        ids = ",".join(emu.playlist_ids())

        def run(script, prefix):
            st0 = emu.stats()
            subprocess.run([sys.executable, os.path.join(ROOT, script), "--api-url", emu.api_url, "--accounts-url", emu.base,
                            "--playlists", ids, "--state", os.path.join(work, prefix.strip("/") + ".json"),
                            "--bucket", peers.BUCKET, "--prefix", prefix, "--endpoint", moto.endpoint],
                           env=env, check=True, stdout=subprocess.DEVNULL, cwd=work)
            st1 = emu.stats()
            return (st1["requests"] - st1["by_route"].get("token", 0)) - (st0["requests"] - st0["by_route"].get("token", 0))

        s3 = moto.client()
        for step in ("initial", "changed"):
            if step == "changed":
                emu.ctl("POST", "mutate_random", {"seed": 11, "playlists": 1})
            with self.subTest(step=step):
                self.assertEqual(run("bench/seed-peer/pipeline.py", "seed/"), run("bench/python-peer/pipeline.py", "peer/"))
                self.assertEqual(rows_by_table(s3, "seed/"), rows_by_table(s3, "peer/"))
        tables = rows_by_table(s3, "peer/")
        self.assertTrue({"playlists", "playlist_items", "tracks", "albums", "artists", "episodes"} <= set(tables), tables.keys())


if __name__ == "__main__":
    unittest.main()
