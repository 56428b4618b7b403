"""The pipeline benchmark's generated /items pages (Sources/spotifyd-etl-bench/PageGenerator.swift)
must have the shape the daemon really receives: what this emulator serves for a request with the
daemon's `fields` filter. Compares, per entry kind, the key structure (keys in order, value
types) of `spotifyd-etl-bench --dump-page N` with the emulator's filtered pages, and the page's
text form with `json.dumps`.

Run: python3 -m unittest scripts/emulator/test_bench_pages.py
(builds the debug spotifyd-etl-bench with `swift build --product spotifyd-etl-bench` first;
set SPOTIFYD_ETL_BENCH to use another binary).
"""
import json
import os
import subprocess
import sys
import unittest
from urllib.parse import parse_qs, quote, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from test_emulator import Emu, path_of  # noqa: E402


def bench_binary():
    if os.environ.get("SPOTIFYD_ETL_BENCH"):
        return os.environ["SPOTIFYD_ETL_BENCH"]
    subprocess.run(["swift", "build", "--product", "spotifyd-etl-bench"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    bin_dir = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
    return os.path.join(bin_dir, "spotifyd-etl-bench")


def shape(v):
    """Key structure: objects as ordered (key, shape) tuples, arrays as the set of element shapes."""
    if isinstance(v, dict):
        return tuple((k, shape(x)) for k, x in v.items())
    if isinstance(v, list):
        return ("array", frozenset(shape(x) for x in v))
    if v is None:
        return "null"
    return type(v).__name__


def kind(entry):
    item = entry.get("item")
    if item is None:
        return "null"
    if entry.get("is_local"):
        return "local"
    if item.get("type") == "episode":
        return "episode"
    return "track" if "popularity" in item else "track without popularity"


class BenchPagesMatchEmulator(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bench = bench_binary()
        cls.fields = subprocess.run([cls.bench, "--dump-fields"], check=True, capture_output=True,
                                    text=True).stdout.strip()
        cls.emu = Emu("--scenario", "generated", "--playlists", "1", "--items", "300", "--seed", "7")
        cls.tok = cls.emu.token()

    @classmethod
    def tearDownClass(cls):
        assert cls.emu.stop() == 0

    def bench_pages(self, n):
        out = []
        for k in range(n):
            raw = subprocess.run([self.bench, "--items", str(50 * n), "--seen", "1000", "--dump-page", str(k)],
                                 check=True, capture_output=True).stdout
            out.append(raw)
        return out

    def emulator_pages(self):
        pid = self.emu.truth()["playlists"][0]["id"]
        ops = [{"op": o} for o in ("add_episode", "add_local", "add_null")] * 2
        st, _ = self.emu.req("POST", "/_emulator/mutate", {"playlist_id": pid, "ops": ops})
        self.assertEqual(st, 200)
        # The daemon's request: limit, offset, additional_types, then the percent-encoded filter.
        path = (f"/v1/playlists/{pid}/items?limit=50&offset=0&additional_types=track,episode"
                f"&fields={quote(self.fields, safe='')}")
        pages = []
        while path:
            st, body = self.emu.get(path, self.tok)
            self.assertEqual(st, 200, body)
            pages.append(body)
            path = path_of(body["next"]) if body["next"] else None
        return pages

    def test_filter_is_the_daemons(self):
        self.assertTrue(self.fields.startswith("items(added_at,added_by(id),is_local,item("), self.fields)
        self.assertNotIn("track(", self.fields)

    def test_generated_pages_have_the_emulators_filtered_shape(self):
        emu_pages = self.emulator_pages()
        gen_raw = self.bench_pages(10)
        gen_pages = [json.loads(r) for r in gen_raw]

        # Text form: what json.dumps (the emulator's serializer) writes, byte for byte.
        for raw, page in zip(gen_raw, gen_pages):
            self.assertEqual(raw, json.dumps(page, ensure_ascii=False).encode())

        # Page keys, in order, on a middle and on the last page.
        self.assertEqual(list(gen_pages[0]), list(emu_pages[0]))
        self.assertEqual(list(gen_pages[0]), ["items", "limit", "next", "offset", "total"])
        self.assertEqual(list(gen_pages[-1]), list(emu_pages[-1]))
        self.assertIsNone(gen_pages[-1]["next"])

        # `next` carries the query over as the emulator writes it (fields included).
        self.assertEqual(urlsplit(gen_pages[0]["next"]).query, urlsplit(emu_pages[0]["next"]).query)
        self.assertEqual(parse_qs(urlsplit(gen_pages[0]["next"]).query)["fields"], [self.fields])

        # Entry shapes per kind: the same set on both sides.
        def shapes(pages):
            out = {}
            for p in pages:
                for e in p["items"]:
                    out.setdefault(kind(e), set()).add(shape(e))
            return out

        gen, emu = shapes(gen_pages), shapes(emu_pages)
        self.assertEqual(set(gen), {"track", "track without popularity", "episode", "local", "null"})
        self.assertEqual(set(gen), set(emu))
        for k in gen:
            self.assertEqual(gen[k], emu[k], k)


if __name__ == "__main__":
    unittest.main()
