"""Self-test for the Spotify emulator: starts real server processes and talks HTTP to them.

Run: python3 -m unittest scripts/emulator/test_emulator.py
"""
import base64
import hashlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import zlib
from urllib.parse import parse_qs, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "spotify_emulator.py")


class Emu:
    def __init__(self, *args):
        self.dir = tempfile.mkdtemp()
        pf = os.path.join(self.dir, "port")
        self.proc = subprocess.Popen([sys.executable, SCRIPT, "--port", "0", "--port-file", pf, *args],
                                     stdout=subprocess.DEVNULL)
        deadline = time.time() + 20
        while not os.path.exists(pf):
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("emulator did not start")
            time.sleep(0.02)
        with open(pf) as f:
            self.port = int(f.read())
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def stop(self):
        self.conn.close()
        self.proc.terminate()
        rc = self.proc.wait(10)
        return rc

    def req(self, method, path, body=None, headers=None, raw=False):
        h = dict(headers or {})
        data = None
        if body is not None:
            if isinstance(body, (bytes, str)):
                data = body.encode() if isinstance(body, str) else body
            else:
                data = json.dumps(body).encode()
                h["Content-Type"] = "application/json"
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=h)
                r = self.conn.getresponse()
                payload = r.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        if raw:
            return r.status, dict(r.getheaders()), payload
        return r.status, (json.loads(payload) if payload else None)

    def token(self):
        auth = base64.b64encode(b"test-client:test-secret").decode()
        st, body = self.req("POST", "/api/token", "grant_type=client_credentials",
                            {"Authorization": "Basic " + auth, "Content-Type": "application/x-www-form-urlencoded"})
        assert st == 200, body
        return body["access_token"]

    def get(self, path, tok):
        return self.req("GET", path, headers={"Authorization": "Bearer " + tok})

    def truth(self):
        return self.req("GET", "/_emulator/truth")[1]


def path_of(url):
    u = urlsplit(url)
    return u.path + ("?" + u.query if u.query else "")


class OwnSmallEmulator(unittest.TestCase):
    """Each subclass gets its own emulator on the small scenario, a token, and its playlists by
    name (`cls.pls`)."""

    @classmethod
    def setUpClass(cls):
        cls.emu = Emu("--scenario", "small")
        cls.tok = cls.emu.token()
        cls.pls = {p["name"].strip(): p for p in cls.emu.truth()["playlists"]}

    @classmethod
    def tearDownClass(cls):
        assert cls.emu.stop() == 0


class SmallScenario(OwnSmallEmulator):
    def setUp(self):
        self.emu.req("DELETE", "/_emulator/faults")

    def test_paging_and_next_links_walk_everything(self):
        pid = self.pls["Edge Cases"]["id"]
        path = f"/v1/playlists/{pid}/items?limit=3&additional_types=track,episode&market=DE"
        seen = []
        pages = 0
        while path:
            st, page = self.emu.get(path, self.tok)
            self.assertEqual(st, 200, page)
            self.assertEqual(page["limit"], 3)
            self.assertEqual(page["total"], 10)
            seen.extend(page["items"])
            pages += 1
            if page["next"]:
                self.assertTrue(page["next"].startswith(f"http://127.0.0.1:{self.emu.port}/v1/playlists/{pid}/items?"))
                q = parse_qs(urlsplit(page["next"]).query)
                self.assertEqual(q["additional_types"], ["track,episode"])
                self.assertEqual(q["market"], ["DE"])
            path = path_of(page["next"]) if page["next"] else None
        self.assertEqual(pages, 4)
        self.assertEqual(len(seen), 10)
        truth = self.pls["Edge Cases"]["entries"]
        for e, t in zip(seen, truth):
            self.assertIs(e["item"], e["track"]) if e["item"] is None else self.assertEqual(e["item"], e["track"])
            if t["type"] == "null":
                self.assertIsNone(e["item"])
            elif t["type"] == "episode":
                self.assertEqual(e["item"]["type"], "episode")
                self.assertEqual(e["item"]["id"], t["item_key"])
                self.assertIn("name", e["item"]["show"])
            elif t["type"] == "local":
                self.assertTrue(e["is_local"])
                self.assertIsNone(e["item"]["id"])
                self.assertTrue(e["item"]["uri"].startswith("spotify:local:"))
        # duplicate, null added_at/by, missing id, string duration
        self.assertEqual(seen[0]["item"]["id"], seen[1]["item"]["id"])
        self.assertNotEqual(seen[0]["added_at"], seen[1]["added_at"])
        self.assertIsNone(seen[5]["added_at"])
        self.assertIsNone(seen[5]["added_by"])
        self.assertNotIn("id", seen[6]["item"])
        self.assertIsInstance(seen[7]["item"]["duration_ms"], str)

    def test_episodes_null_without_additional_types(self):
        pid = self.pls["Edge Cases"]["id"]
        st, page = self.emu.get(f"/v1/playlists/{pid}/items?limit=50", self.tok)
        self.assertEqual(st, 200)
        self.assertIsNone(page["items"][4]["item"])
        self.assertIsNone(page["next"])

    def test_limit_over_50_rejected(self):
        pid = self.pls["Basic Mix"]["id"]
        st, body = self.emu.get(f"/v1/playlists/{pid}/items?limit=51", self.tok)
        self.assertEqual(st, 400)
        self.assertEqual(body["error"]["status"], 400)

    def test_fields_filter(self):
        pid = self.pls["Edge Cases"]["id"]
        st, body = self.emu.get(f"/v1/playlists/{pid}?fields=id,snapshot_id,name,owner(id,display_name),items.total", self.tok)
        self.assertEqual(st, 200)
        self.assertEqual(set(body), {"id", "snapshot_id", "name", "owner", "items"})
        self.assertEqual(set(body["owner"]), {"id", "display_name"})
        self.assertEqual(body["items"], {"total": 10})
        st, body = self.emu.get(f"/v1/playlists/{pid}/items?fields=total,items(added_at,item(id,album(name)))&limit=1", self.tok)
        self.assertEqual(set(body), {"total", "items"})
        self.assertEqual(set(body["items"][0]), {"added_at", "item"})
        self.assertEqual(set(body["items"][0]["item"]), {"id", "album"})
        self.assertEqual(set(body["items"][0]["item"]["album"]), {"name"})
        st, body = self.emu.get(f"/v1/playlists/{pid}?fields=name,owner(", self.tok)
        self.assertEqual(st, 400)

    def test_fields_carried_into_next_links_and_logged(self):
        pid = self.pls["Edge Cases"]["id"]
        fields = "items(added_at,item(id,name)),limit,next,offset,total"
        self.emu.req("POST", "/_emulator/stats/reset")
        st, body = self.emu.get(f"/v1/playlists/{pid}/items?limit=4&fields={fields}", self.tok)
        self.assertEqual(st, 200)
        self.assertEqual(list(body), ["items", "limit", "next", "offset", "total"], "filter order")
        self.assertEqual(parse_qs(urlsplit(body["next"]).query)["fields"], [fields])
        st, body2 = self.emu.get(path_of(body["next"]), self.tok)
        self.assertEqual(st, 200)
        self.assertEqual(body2["offset"], 4)
        self.assertEqual(set(body2["items"][0]), {"added_at", "item"})
        st, stats = self.emu.req("GET", "/_emulator/stats")
        self.assertEqual(len(stats["recent"]), 2)
        self.assertTrue(all("fields=" in r for r in stats["recent"]), stats["recent"])
        st, brief = self.emu.req("GET", "/_emulator/stats?brief=1")
        self.assertEqual(set(brief), {"requests", "by_route", "violations"})
        self.assertEqual((brief["requests"], brief["by_route"]), (stats["requests"], stats["by_route"]))

    def test_add_raw_entry_served_verbatim_and_filtered(self):
        st, r = self.emu.req("POST", "/_emulator/playlists", {"name": "raw entries"})
        pid = r["id"]
        raw = {"added_at": "not a time", "is_local": False, "item": {"type": "track", "id": "x", "duration_ms": "1"}}
        st, out = self.emu.req("POST", "/_emulator/mutate", {"playlist_id": pid, "ops": [
            {"op": "add_raw", "entry": raw}, {"op": "add_raw", "entry": 42}]})
        self.assertEqual((st, out["total"]), (200, 2))
        st, body = self.emu.get(f"/v1/playlists/{pid}/items", self.tok)
        self.assertEqual(body["items"], [raw, 42])
        st, body = self.emu.get(f"/v1/playlists/{pid}/items?fields=items(added_at,item(id,duration_ms))", self.tok)
        self.assertEqual(body["items"], [{"added_at": "not a time", "item": {"id": "x", "duration_ms": "1"}}, 42])
        st, out = self.emu.req("POST", "/_emulator/mutate", {"playlist_id": pid, "ops": [{"op": "add_raw"}]})
        self.assertEqual(st, 400)

    def test_omit_item_serves_only_the_track_alias(self):
        pid = self.pls["Edge Cases"]["id"]
        st, cfg = self.emu.req("POST", "/_emulator/config", {"omit_item": True})
        self.assertEqual(cfg, {"omit_item": True, "rotate_refresh": False})
        try:
            st, body = self.emu.get(f"/v1/playlists/{pid}/items?limit=3", self.tok)
            self.assertEqual(st, 200)
            for e in body["items"]:
                self.assertNotIn("item", e)
                self.assertIn("track", e)
            self.assertEqual(body["items"][0]["track"]["type"], "track")
            self.assertIsNone(body["items"][2]["track"], "a null item stays a null track")
            st, body = self.emu.get(f"/v1/playlists/{pid}/items?limit=3&fields=items(item(id))", self.tok)
            self.assertEqual(body["items"], [{}, {}, {}])
            st, body = self.emu.get(f"/v1/playlists/{pid}/items?limit=3&fields=items(track(id))", self.tok)
            self.assertEqual(set(body["items"][0]), {"track"})
        finally:
            self.emu.req("POST", "/_emulator/config", {"omit_item": False})
        st, body = self.emu.get(f"/v1/playlists/{pid}/items?limit=1", self.tok)
        self.assertIn("item", body["items"][0])

    def test_full_playlist_shape(self):
        pid = self.pls["Basic Mix"]["id"]
        st, body = self.emu.get(f"/v1/playlists/{pid}", self.tok)
        self.assertEqual(st, 200)
        self.assertEqual(body["type"], "playlist")
        self.assertNotIn("tracks", body)
        self.assertEqual(body["items"]["total"], 4)
        t = body["items"]["items"][0]["item"]
        for k in ("album", "artists", "duration_ms", "explicit", "external_ids", "disc_number", "track_number", "uri", "is_local"):
            self.assertIn(k, t)
        self.assertEqual(t["type"], "track")
        self.assertIn(t["album"]["release_date_precision"], ("year", "month", "day"))
        self.assertTrue(t["album"]["artists"])
        self.assertEqual(len(t["id"]), 22)

    def test_unicode_name_preserved(self):
        names = [p["name"] for p in self.emu.truth()["playlists"]]
        u = [n for n in names if "夜" in n][0]
        pid = [p["id"] for p in self.emu.truth()["playlists"] if p["name"] == u][0]
        st, body = self.emu.get(f"/v1/playlists/{pid}?fields=name", self.tok)
        self.assertEqual(body["name"], u)
        self.assertTrue(u.startswith("  ") and u.endswith("  "))
        self.assertIn("e\u0301", u)

    def test_foreign_playlist_403_and_editorial_404(self):
        pid = self.pls["Someone Else's"]["id"]
        st, body = self.emu.get(f"/v1/playlists/{pid}", self.tok)
        self.assertEqual(st, 200)
        self.assertEqual(set(body["items"]), {"href", "total"})
        st, body = self.emu.get(f"/v1/playlists/{pid}/items", self.tok)
        self.assertEqual(st, 403)
        self.assertEqual(body, {"error": {"status": 403, "message": "Forbidden"}})
        st, body = self.emu.get("/v1/playlists/37i9dQZF1DXcBWIGoYBM5M", self.tok)
        self.assertEqual(st, 404)

    def test_nullable_popularity_and_followers_exist(self):
        ids = self.emu.truth()["ever"]
        st, body = self.emu.get("/v1/artists?ids=" + ",".join(ids["artists"]), self.tok)
        self.assertEqual(st, 200)
        self.assertTrue(all(a["type"] == "artist" for a in body["artists"]))
        st, a = self.emu.get("/v1/artists/" + ids["artists"][0], self.tok)
        self.assertEqual(st, 200)
        st, _ = self.emu.get("/v1/artists/AAAAAAAAAAAAAAAAAAAAAA", self.tok)
        self.assertEqual(st, 404)

    def test_429_window_counts_violations(self):
        pid = self.pls["Basic Mix"]["id"]
        self.emu.req("POST", "/_emulator/stats/reset")
        st, _ = self.emu.req("POST", "/_emulator/faults", [{"path_regex": "/items", "status": 429, "retry_after": "2", "count": 1}])
        self.assertEqual(st, 200)
        st, hdrs, body = self.emu.req("GET", f"/v1/playlists/{pid}/items", headers={"Authorization": "Bearer " + self.tok}, raw=True)
        self.assertEqual(st, 429)
        self.assertEqual(hdrs["Retry-After"], "2")
        self.assertEqual(self.emu.req("GET", "/_emulator/stats")[1]["violations"], 0)
        # At once: could have been in flight from another worker, counted apart.
        st, _ = self.emu.get(f"/v1/playlists/{pid}", self.tok)
        self.assertEqual(st, 200)
        stats = self.emu.req("GET", "/_emulator/stats")[1]
        self.assertEqual((stats["violations"], stats["inflight_after_429"]), (0, 1))
        time.sleep(0.6)  # past the 500 ms in-flight allowance, still inside the window
        st, _ = self.emu.get(f"/v1/playlists/{pid}", self.tok)
        self.assertEqual(st, 200)
        stats = self.emu.req("GET", "/_emulator/stats")[1]
        self.assertEqual(stats["violations"], 1)
        self.assertEqual(stats["by_route"]["items"], 1)
        self.assertEqual(stats["by_route"]["playlist"], 2)
        self.assertEqual(stats["by_playlist"][pid], 3)
        time.sleep(1.5)
        st, _ = self.emu.get(f"/v1/playlists/{pid}", self.tok)
        self.assertEqual(self.emu.req("GET", "/_emulator/stats")[1]["violations"], 1)

    def test_fault_after_count_and_malformed_body(self):
        pid = self.pls["Basic Mix"]["id"]
        self.emu.req("POST", "/_emulator/faults", {"path_regex": f"/playlists/{pid}$", "status": 500, "body": "{not json", "after": 1, "count": 1})
        self.assertEqual(self.emu.get(f"/v1/playlists/{pid}", self.tok)[0], 200)
        st, _, raw = self.emu.req("GET", f"/v1/playlists/{pid}", headers={"Authorization": "Bearer " + self.tok}, raw=True)
        self.assertEqual((st, raw), (500, b"{not json"))
        self.assertEqual(self.emu.get(f"/v1/playlists/{pid}", self.tok)[0], 200)
        self.emu.req("POST", "/_emulator/faults", {"path_regex": "/items", "status": 429, "reason": "QUOTA_EXCEEDED", "retry_after": "3600", "count": 1})
        st, body = self.emu.get(f"/v1/playlists/{pid}/items", self.tok)
        self.assertEqual(st, 429)
        self.assertEqual(body["error"]["reason"], "QUOTA_EXCEEDED")

    def test_mutations_and_truth_history(self):
        st, created = self.emu.req("POST", "/_emulator/playlists", {"owned": True, "name": "Scratch", "items": 3})
        pid = created["id"]
        snap0 = created["snapshot_id"]
        st, r1 = self.emu.req("POST", "/_emulator/mutate", {"playlist_id": pid, "ops": [{"op": "rename", "name": "Scratch 2"}]})
        self.assertNotEqual(r1["snapshot_id"], snap0)
        st, r2 = self.emu.req("POST", "/_emulator/mutate", {"playlist_id": pid, "ops": [
            {"op": "add", "count": 2}, {"op": "remove", "positions": [0]}, {"op": "move", "from": 0, "to": 2},
            {"op": "add_null"}, {"op": "add_local"}, {"op": "add_episode"}, {"op": "duplicate", "position": 0}]})
        self.assertEqual(st, 200, r2)
        self.assertEqual(r2["total"], 8)
        t = [p for p in self.emu.truth()["playlists"] if p["id"] == pid][0]
        self.assertEqual(t["name"], "Scratch 2")
        self.assertEqual(t["total"], 8)
        hist = [h for h in self.emu.truth()["history"] if h["playlist_id"] == pid]
        self.assertEqual(sum(h["event"] == "add" for h in hist), 3 + 2 + 4)
        self.assertEqual(sum(h["event"] == "remove" for h in hist), 1)
        st, page = self.emu.get(f"/v1/playlists/{pid}/items?limit=50&additional_types=episode", self.tok)
        self.assertEqual([e["item"]["id"] if e["item"] and not e["is_local"] else (e["item"]["uri"] if e["item"] else None) for e in page["items"]],
                         [x["item_key"] for x in t["entries"]])
        st, body = self.emu.req("POST", "/_emulator/mutate", {"playlist_id": pid, "ops": [{"op": "remove", "positions": [99]}]})
        self.assertEqual(st, 400)


class EmbeddedPage(OwnSmallEmulator):
    """The first page GET /playlists/{id} embeds. Own emulator: the playlists created here
    would change what the small scenario's other tests see."""

    # The filter spotifyd-etl sends for a poll (ItemFields.playlist): metadata keys, then the
    # embedded page filtered as an /items page, nested one level down.
    ITEM_KEYS = ("album(album_type,artists(id,name),id,name,release_date,release_date_precision,total_tracks),"
                 "artists(id,name),disc_number,duration_ms,explicit,external_ids(isrc),id,is_local,name,popularity,"
                 "release_date,release_date_precision,show(id,name),track_number,type,uri")
    POLL_FIELDS = ("id,snapshot_id,name,description,public,collaborative,owner(id,display_name),followers(total),"
                   f"items(items(added_at,added_by(id),is_local,item({ITEM_KEYS})),limit,next,offset,total),tracks(total)")

    def created(self, n):
        st, r = self.emu.req("POST", "/_emulator/playlists", {"name": f"{n} items", "items": n})
        self.assertEqual((st, r["total"]), (200, n))
        return r["id"]

    def test_embedded_page_is_a_full_paging_object(self):
        pid = self.created(130)
        st, body = self.emu.get(f"/v1/playlists/{pid}?additional_types=track,episode", self.tok)
        self.assertEqual(st, 200)
        page = body["items"]
        self.assertEqual(list(page), ["href", "items", "limit", "next", "offset", "previous", "total"])
        self.assertEqual((page["limit"], page["offset"], page["total"], len(page["items"])), (100, 0, 130, 100))
        self.assertIsNone(page["previous"])
        self.assertEqual(path_of(page["href"]).split("?")[0], f"/v1/playlists/{pid}/items")
        self.assertEqual(parse_qs(urlsplit(page["href"]).query)["limit"], ["100"])
        nq = parse_qs(urlsplit(page["next"]).query)
        self.assertEqual((nq["offset"], nq["additional_types"]), (["100"], ["track,episode"]))
        truth = [p for p in self.emu.truth()["playlists"] if p["id"] == pid][0]["entries"]
        for e, t in zip(page["items"], truth):
            self.assertTrue({"added_at", "added_by", "is_local", "item", "track"} <= set(e), set(e))
            self.assertEqual(e["item"], e["track"], "track is the deprecated alias of item")
            self.assertEqual(e["added_at"], t["added_at"])
            key = None if e["item"] is None else (e["item"]["uri"] if e["is_local"] else e["item"]["id"])
            self.assertEqual(key, t["item_key"])
        # Following `next` from the embedded page reads on from offset 100 (an /items page).
        st, rest = self.emu.get(path_of(page["next"]), self.tok)
        self.assertEqual((st, rest["offset"], len(rest["items"]), rest["next"]), (200, 100, 30, None))
        self.assertEqual(rest["items"][0]["added_at"], truth[100]["added_at"])

    def test_embedded_page_next_only_past_100(self):
        for n, has_next in ((0, False), (100, False), (101, True)):
            st, body = self.emu.get(f"/v1/playlists/{self.created(n)}?fields=items(total,next,limit,offset,items(added_at))", self.tok)
            self.assertEqual(st, 200)
            self.assertEqual(list(body), ["items"])
            self.assertEqual(len(body["items"]["items"]), min(n, 100), n)
            self.assertEqual((body["items"]["total"], body["items"]["limit"], body["items"]["offset"]), (n, 100, 0))
            self.assertEqual(body["items"]["next"] is not None, has_next, n)

    def test_poll_filter_on_the_embedded_page(self):
        pid = self.pls["Edge Cases"]["id"]
        st, body = self.emu.get(f"/v1/playlists/{pid}?fields={self.POLL_FIELDS}&additional_types=track,episode", self.tok)
        self.assertEqual(st, 200)
        self.assertEqual(list(body), ["id", "snapshot_id", "name", "description", "public", "collaborative", "owner",
                                      "followers", "items"], "no tracks key: the 2026 shape names the page items only")
        self.assertEqual(list(body["items"]), ["items", "limit", "next", "offset", "total"])
        self.assertEqual((body["items"]["total"], body["items"]["limit"], body["items"]["next"]), (10, 100, None))
        entries = body["items"]["items"]
        self.assertEqual(len(entries), 10)
        self.assertEqual(list(entries[0]), ["added_at", "added_by", "is_local", "item"], "no track alias: not asked for")
        self.assertEqual(set(entries[0]["added_by"]), {"id"})
        self.assertNotIn("available_markets", entries[0]["item"])
        self.assertEqual(set(entries[0]["item"]["album"]["artists"][0]), {"id", "name"})
        self.assertIsNone(entries[2]["item"], "a null item stays null")
        self.assertEqual(entries[4]["item"]["type"], "episode")
        self.assertEqual(set(entries[4]["item"]["show"]), {"id", "name"})
        # The same entries as the /items page under the same entry filter.
        st, page = self.emu.get(f"/v1/playlists/{pid}/items?limit=50&additional_types=track,episode&fields="
                                f"items(added_at,added_by(id),is_local,item({self.ITEM_KEYS}))", self.tok)
        self.assertEqual(page["items"], entries)
        # The snapshot-only request.
        st, body = self.emu.get(f"/v1/playlists/{pid}?fields=snapshot_id", self.tok)
        self.assertEqual((st, body), (200, {"snapshot_id": self.pls["Edge Cases"]["snapshot_id"]}))

    def test_embedded_page_entries_follow_omit_item(self):
        pid = self.pls["Basic Mix"]["id"]
        self.emu.req("POST", "/_emulator/config", {"omit_item": True})
        try:
            st, body = self.emu.get(f"/v1/playlists/{pid}?fields=items(items(item(id)),total)", self.tok)
            self.assertEqual(body["items"], {"items": [{}, {}, {}, {}], "total": 4})
            st, body = self.emu.get(f"/v1/playlists/{pid}?fields=items(items(track(id)),total)", self.tok)
            self.assertEqual([set(e) for e in body["items"]["items"]], [{"track"}] * 4)
        finally:
            self.emu.req("POST", "/_emulator/config", {"omit_item": False})


class Auth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emu("--token-ttl", "1")

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def test_expire_access_control(self):
        tok = self.emu.token()
        pid = self.emu.truth()["playlists"][0]["id"]
        self.emu.req("POST", "/_emulator/tokens", {"expire_access": True})
        self.assertEqual(self.emu.get(f"/v1/playlists/{pid}", tok)[0], 401)
        self.assertEqual(self.emu.get(f"/v1/playlists/{pid}", self.emu.token())[0], 200)

    def test_expired_token_401(self):
        tok = self.emu.token()
        pid = self.emu.truth()["playlists"][0]["id"]
        self.assertEqual(self.emu.get(f"/v1/playlists/{pid}", tok)[0], 200)
        time.sleep(1.1)
        st, body = self.emu.get(f"/v1/playlists/{pid}", tok)
        self.assertEqual(st, 401)
        self.assertEqual(body, {"error": {"status": 401, "message": "The access token expired"}})
        self.assertEqual(self.emu.get(f"/v1/playlists/{pid}", "garbage")[0], 401)

    def test_bad_secret(self):
        auth = base64.b64encode(b"test-client:wrong").decode()
        st, body = self.emu.req("POST", "/api/token", "grant_type=client_credentials",
                                {"Authorization": "Basic " + auth, "Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(st, 400)
        self.assertEqual(body["error"], "invalid_client")

    def test_pkce_flow_refresh_and_revoke(self):
        verifier = "v" * 64
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        st, hdrs, _ = self.emu.req("GET", "/authorize?client_id=test-client&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%3A8888%2Fcb"
                                   f"&code_challenge={challenge}&code_challenge_method=S256&scope=playlist-read-private&state=xyz", raw=True)
        self.assertEqual(st, 302)
        loc = urlsplit(hdrs["Location"])
        q = parse_qs(loc.query)
        self.assertEqual(q["state"], ["xyz"])
        self.assertEqual(f"{loc.scheme}://{loc.netloc}{loc.path}", "http://127.0.0.1:8888/cb")
        auth = {"Authorization": "Basic " + base64.b64encode(b"test-client:test-secret").decode(),
                "Content-Type": "application/x-www-form-urlencoded"}
        form = f"grant_type=authorization_code&code={q['code'][0]}&redirect_uri=http%3A%2F%2F127.0.0.1%3A8888%2Fcb&code_verifier=wrong"
        st, body = self.emu.req("POST", "/api/token", form, auth)
        self.assertEqual((st, body["error"]), (400, "invalid_grant"))
        # the code was consumed by the failed attempt; get a fresh one
        st, hdrs, _ = self.emu.req("GET", "/authorize?client_id=test-client&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%3A8888%2Fcb"
                                   f"&code_challenge={challenge}&code_challenge_method=S256&state=s2", raw=True)
        code = parse_qs(urlsplit(hdrs["Location"]).query)["code"][0]
        form = f"grant_type=authorization_code&code={code}&redirect_uri=http%3A%2F%2F127.0.0.1%3A8888%2Fcb&code_verifier={verifier}"
        st, body = self.emu.req("POST", "/api/token", form, auth)
        self.assertEqual(st, 200, body)
        rt = body["refresh_token"]
        st, body = self.emu.req("POST", "/api/token", f"grant_type=refresh_token&refresh_token={rt}", auth)
        self.assertEqual(st, 200)
        self.assertIn("access_token", body)
        self.emu.req("POST", "/_emulator/tokens", {"revoke_refresh": True})
        st, body = self.emu.req("POST", "/api/token", f"grant_type=refresh_token&refresh_token={rt}", auth)
        self.assertEqual((st, body), (400, {"error": "invalid_grant", "error_description": "Refresh token revoked"}))
        self.emu.req("POST", "/_emulator/tokens", {"restore_refresh": True})
        st, body = self.emu.req("POST", "/api/token", f"grant_type=refresh_token&refresh_token={rt}", auth)
        self.assertEqual(st, 200)

    def test_rotate_refresh(self):
        verifier = "r" * 64
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        st, hdrs, _ = self.emu.req("GET", "/authorize?client_id=test-client&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%3A8888%2Fcb"
                                   f"&code_challenge={challenge}&code_challenge_method=S256", raw=True)
        code = parse_qs(urlsplit(hdrs["Location"]).query)["code"][0]
        auth = {"Authorization": "Basic " + base64.b64encode(b"test-client:test-secret").decode(),
                "Content-Type": "application/x-www-form-urlencoded"}
        form = f"grant_type=authorization_code&code={code}&redirect_uri=http%3A%2F%2F127.0.0.1%3A8888%2Fcb&code_verifier={verifier}"
        rt0 = self.emu.req("POST", "/api/token", form, auth)[1]["refresh_token"]
        st, cfg = self.emu.req("POST", "/_emulator/config", {"rotate_refresh": True})
        self.assertTrue(cfg["rotate_refresh"])
        try:
            st, body = self.emu.req("POST", "/api/token", f"grant_type=refresh_token&refresh_token={rt0}", auth)
            self.assertEqual(st, 200)
            rt1 = body["refresh_token"]
            self.assertNotEqual(rt1, rt0)
            st, body = self.emu.req("POST", "/api/token", f"grant_type=refresh_token&refresh_token={rt0}", auth)
            self.assertEqual((st, body["error"]), (400, "invalid_grant"), "the rotated-out token is dead")
            st, body = self.emu.req("POST", "/api/token", f"grant_type=refresh_token&refresh_token={rt1}", auth)
            self.assertEqual(st, 200)
            rt2 = body["refresh_token"]
        finally:
            self.emu.req("POST", "/_emulator/config", {"rotate_refresh": False})
        st, body = self.emu.req("POST", "/api/token", f"grant_type=refresh_token&refresh_token={rt2}", auth)
        self.assertEqual(st, 200)
        self.assertNotIn("refresh_token", body, "without rotation no new refresh token")
        st, body = self.emu.req("POST", "/api/token", f"grant_type=refresh_token&refresh_token={rt2}", auth)
        self.assertEqual(st, 200, "and the token stays valid")

    def test_mutate_random_changes_snapshots(self):
        before = {p["id"]: p["snapshot_id"] for p in self.emu.truth()["playlists"]}
        st, body = self.emu.req("POST", "/_emulator/mutate_random", {"seed": 3, "playlists": 2})
        self.assertEqual(st, 200)
        self.assertEqual(len(body["mutations"]), 2)
        after = {p["id"]: p["snapshot_id"] for p in self.emu.truth()["playlists"]}
        for m in body["mutations"]:
            self.assertNotEqual(before[m["playlist_id"]], after[m["playlist_id"]])


class HostileAnswers(unittest.TestCase):
    """Fault rules that send any answer: status 200, headers, json, generated bodies, gzip,
    endless streams, patched pages. Each body is checked byte-exact where it is generated."""

    @classmethod
    def setUpClass(cls):
        cls.emu = Emu("--scenario", "small")
        cls.tok = cls.emu.token()
        cls.pls = {p["name"].strip(): p for p in cls.emu.truth()["playlists"]}
        cls.pid = cls.pls["Edge Cases"]["id"]

    @classmethod
    def tearDownClass(cls):
        assert cls.emu.stop() == 0

    def setUp(self):
        self.emu.req("DELETE", "/_emulator/faults")

    def fault(self, rule):
        st, body = self.emu.req("POST", "/_emulator/faults", rule)
        self.assertEqual(st, 200, body)

    def raw_get(self, path, headers=None):
        """A fresh connection per request: some answers close theirs."""
        c = http.client.HTTPConnection("127.0.0.1", self.emu.port, timeout=30)
        h = {"Authorization": "Bearer " + self.tok, **(headers or {})}
        c.request("GET", path, headers=h)
        return c, c.getresponse()

    def items_path(self, limit=3):
        return f"/v1/playlists/{self.pid}/items?limit={limit}"

    def test_status_200_with_json_and_headers(self):
        self.fault({"path_regex": "/items", "status": 200, "json": {"hello": [1, 2]},
                    "headers": {"Retry-After": "soon-ish", "X-Hostile": "yes"}, "count": 1})
        c, r = self.raw_get(self.items_path())
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.read()), {"hello": [1, 2]})
        self.assertEqual((r.getheader("Retry-After"), r.getheader("X-Hostile")), ("soon-ish", "yes"))
        c.close()
        self.assertEqual(len(self.emu.get(self.items_path(), self.tok)[1]["items"]), 3, "count 1: the next answer is real")

    def test_headers_shape_the_normal_answer(self):
        self.fault({"path_regex": "/items", "status": 0, "headers": {"Retry-After": "-5"}})
        c, r = self.raw_get(self.items_path())
        page = json.loads(r.read())
        c.close()
        self.assertEqual((r.status, r.getheader("Retry-After")), (200, "-5"))
        self.assertEqual(page["total"], 10)
        self.assertEqual(len(page["items"]), 3)

    def test_429_retry_after_header_opens_the_window(self):
        self.fault({"path_regex": "/items", "status": 429, "headers": {"Retry-After": "100000000000000000000"}, "count": 1})
        c, r = self.raw_get(self.items_path())
        r.read()
        c.close()
        self.assertEqual((r.status, r.getheader("Retry-After")), (429, "100000000000000000000"))
        self.assertGreater(self.emu.req("GET", "/_emulator/stats")[1]["not_before"], time.time() + 1e19)
        self.emu.req("DELETE", "/_emulator/faults")
        self.assertEqual(self.emu.req("GET", "/_emulator/stats")[1]["not_before"], 0)

    def test_patch_and_patch_raw_on_the_items_page(self):
        self.fault({"path_regex": "/items", "patch": {"offset": 9223372036854775807, "next": None},
                    "patch_raw": {"total": "1e15", "limit": "100000000000000000000"}})
        c, r = self.raw_get(self.items_path())
        raw = r.read().decode()
        c.close()
        self.assertIn('"total": 1e15', raw)
        self.assertIn('"limit": 100000000000000000000', raw)
        page = json.loads(raw)
        self.assertEqual(page["offset"], 9223372036854775807)
        self.assertIsNone(page["next"])
        self.assertEqual(len(page["items"]), 3, "the rest of the page is real")
        self.assertEqual(page["items"][0]["item"]["name"], "Jóga")

    def test_patch_paths_reach_the_embedded_page_and_tracks(self):
        self.fault({"path_regex": f"/playlists/{self.pid}\\?|/playlists/{self.pid}$",
                    "patch": {"items.total": -1, "items.items.0.item.popularity": -5, "items.items.99.item.name": "x"},
                    "patch_raw": {"items.items.0.item.duration_ms": "1e300", "items.limit": "0"}})
        c, r = self.raw_get(f"/v1/playlists/{self.pid}")
        raw = r.read().decode()
        c.close()
        self.assertIn('"duration_ms": 1e300', raw)
        body = json.loads(raw)
        self.assertEqual((body["items"]["total"], body["items"]["limit"]), (-1, 0))
        self.assertEqual(body["items"]["items"][0]["item"]["popularity"], -5)
        self.assertEqual(body["snapshot_id"], self.emu.truth()["playlists"][1]["snapshot_id"])
        faults = self.emu.req("GET", "/_emulator/stats")[1]["faults"]
        self.assertEqual(faults[0]["patch_misses"], 1, "index 99 is past the page")
        # The catalog's shared objects were not touched.
        st, page = self.emu.get(self.items_path(), self.tok)
        self.assertIsInstance(page["items"][0]["item"]["duration_ms"], int)

    def test_token_answer_patch_raw(self):
        self.fault({"path_regex": "/api/token", "patch_raw": {"expires_in": "1e20"}, "count": 1})
        auth = base64.b64encode(b"test-client:test-secret").decode()
        st, _, raw = self.emu.req("POST", "/api/token", "grant_type=client_credentials",
                                  {"Authorization": "Basic " + auth, "Content-Type": "application/x-www-form-urlencoded"}, raw=True)
        self.assertEqual(st, 200)
        self.assertIn(b'"expires_in": 1e20', raw)
        self.assertTrue(json.loads(raw)["access_token"].startswith("emu-at-"))

    def test_body_size_pads_a_valid_page(self):
        self.fault({"path_regex": "/items", "body_size": 2_000_000, "count": 1})
        c, r = self.raw_get(self.items_path())
        raw = r.read()
        c.close()
        self.assertEqual(int(r.getheader("Content-Length")), 2_000_000)
        self.assertEqual(len(raw), 2_000_000)
        page = json.loads(raw)
        self.assertEqual(len(page["items"]), 3)
        self.assertEqual(set(page["_pad"]), {"x"})

    def test_body_size_junk_error_body(self):
        self.fault({"path_regex": "/items", "status": 503, "body_size": 70_000, "body_fill": "junk", "count": 1})
        c, r = self.raw_get(self.items_path())
        raw = r.read()
        c.close()
        self.assertEqual((r.status, len(raw)), (503, 70_000))
        self.assertTrue(raw.startswith(b"<html>"))
        with self.assertRaises(ValueError):
            json.loads(raw)

    def test_status_with_page_fill_pads_the_error_object(self):
        self.fault({"path_regex": "/items", "status": 500, "body_size": 66_000, "count": 1})
        c, r = self.raw_get(self.items_path())
        body = json.loads(r.read())
        c.close()
        self.assertEqual((r.status, body["error"]["status"], len(body["_pad"]) > 65_000), (500, 500, True))

    def test_gzip_sends_the_normal_answer_compressed(self):
        self.fault({"path_regex": "/items", "gzip": True, "count": 1})
        c, r = self.raw_get(self.items_path(), {"Accept-Encoding": "gzip"})
        raw = r.read()
        c.close()
        self.assertEqual((r.getheader("Content-Encoding"), r.getheader("Transfer-Encoding")), ("gzip", "chunked"))
        page = json.loads(zlib.decompress(raw, 31))
        self.assertEqual(page["total"], 10)

    def test_gzip_bomb_decodes_to_its_size(self):
        n = 50_000_000
        self.fault({"path_regex": "/items", "gzip_bomb_bytes": n, "count": 1})
        c, r = self.raw_get(self.items_path(), {"Accept-Encoding": "gzip"})
        raw = r.read()
        c.close()
        self.assertLess(len(raw), n // 500, "a bomb: tiny on the wire")
        d = zlib.decompressobj(31)
        size, head, tail = 0, b"", b""
        for i in range(0, len(raw), 4096):
            out = d.decompress(raw[i:i + 4096])
            head = head or out[:100]
            tail = (tail + out)[-100:]
            size += len(out)
        self.assertEqual(size, n)
        self.assertTrue(head.startswith(b'{"href"'))
        self.assertTrue(tail.endswith(b'0000"}'), tail)

    def test_gzip_bomb_junk_is_zeros(self):
        self.fault({"path_regex": "/items", "gzip_bomb_bytes": 1_000_000, "body_fill": "junk", "count": 1})
        c, r = self.raw_get(self.items_path())
        out = zlib.decompress(r.read(), 31)
        c.close()
        self.assertEqual(out, b"\0" * 1_000_000)

    def test_endless_streams_until_the_client_leaves(self):
        self.fault({"path_regex": "/items", "endless": True, "count": 1})
        c, r = self.raw_get(self.items_path())
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        got = 0
        while got < 8_000_000:
            got += len(r.read(1 << 20))
        self.assertGreaterEqual(got, 8_000_000)
        c.close()
        self.assertEqual(self.emu.req("GET", "/_emulator/health")[0], 200, "the server lives on")

    def test_endless_gzip_junk(self):
        self.fault({"path_regex": "/items", "endless": True, "gzip": True, "body_fill": "junk", "count": 1})
        c, r = self.raw_get(self.items_path())
        d = zlib.decompressobj(31)
        out = 0
        for _ in range(20):
            out += len(d.decompress(r.read(65536)))
        c.close()
        self.assertGreater(out, 20 * 65536, "junk compresses: more out than in")

    def test_deep_nesting_bare_and_embedded(self):
        n = 200_000
        self.fault({"path_regex": "/items", "deep_nesting": n, "body_fill": "junk", "count": 1})
        c, r = self.raw_get(self.items_path())
        raw = r.read()
        c.close()
        self.assertEqual(raw, b"[" * n + b"]" * n)
        self.fault({"path_regex": "/items", "deep_nesting": 500, "embed_at": "items.0.item.album", "count": 1})
        c, r = self.raw_get(self.items_path())
        raw = r.read()
        c.close()
        self.assertEqual(int(r.getheader("Content-Length")), len(raw))
        page = json.loads(raw)
        node, depth = page["items"][0]["item"]["album"], 0
        while isinstance(node, list):
            node, depth = (node[0] if node else None), depth + 1
        self.assertEqual(depth, 500)
        self.assertEqual(page["items"][0]["item"]["name"], "Jóga")

    def test_wide_object(self):
        self.fault({"path_regex": "/items", "wide_keys": 1_000_000, "body_fill": "junk", "count": 1})
        c, r = self.raw_get(self.items_path())
        raw = r.read()
        c.close()
        self.assertEqual(int(r.getheader("Content-Length")), len(raw))
        obj = json.loads(raw)
        self.assertEqual((len(obj), obj["k999999"]), (1_000_000, 999_999))
        self.fault({"path_regex": "/items", "wide_keys": 25_000, "count": 1})
        page = self.emu.get(self.items_path(), self.tok)[1]
        self.assertEqual((len(page["_pad"]), len(page["items"])), (25_000, 3))

    def test_truncate_a_generated_body(self):
        self.fault({"path_regex": "/items", "body_size": 100_000, "truncate": True, "count": 1})
        c, r = self.raw_get(self.items_path())
        self.assertEqual(int(r.getheader("Content-Length")), 100_000)
        with self.assertRaises(http.client.IncompleteRead) as e:
            r.read()
        self.assertEqual(len(e.exception.partial), 50_000)
        c.close()

    def test_truncate_the_normal_answer(self):
        self.fault({"path_regex": "/items", "status": 200, "truncate": True, "count": 1})
        c, r = self.raw_get(self.items_path())
        with self.assertRaises(http.client.IncompleteRead):
            r.read()
        c.close()

    def test_rate_paced_body_is_complete(self):
        self.fault({"path_regex": "/items", "body_size": 300_000, "rate_bytes_per_s": 1_000_000, "count": 1})
        c, r = self.raw_get(self.items_path())
        raw = r.read()
        c.close()
        self.assertEqual(len(json.loads(raw)["items"]), 3)

    def test_delay_only_rule_still_answers_normally(self):
        self.fault({"path_regex": "/items", "status": 0, "delay_ms": 1, "count": 1})
        st, page = self.emu.get(self.items_path(), self.tok)
        self.assertEqual((st, len(page["items"])), (200, 3))
        self.assertNotIn("_pad", page)

    def test_bad_rules_are_refused(self):
        for bad in ({"body_fill": "lava"}, {"body_size": -1}, {"patch_raw": {"total": 1}}, {"headers": ["x"]},
                    {"deep_nesting": "deep"}):
            st, body = self.emu.req("POST", "/_emulator/faults", {"path_regex": "/items", **bad})
            self.assertEqual(st, 400, bad)
        self.assertEqual(self.emu.req("GET", "/_emulator/stats")[1]["faults"], [])


class DevMode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emu("--dev-mode")
        cls.tok = cls.emu.token()
        cls.pls = {p["name"].strip(): p for p in cls.emu.truth()["playlists"]}

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def test_dev_mode_restrictions(self):
        ever = self.emu.truth()["ever"]
        st, body = self.emu.get("/v1/artists?ids=" + ever["artists"][0], self.tok)
        self.assertEqual((st, body), (403, {"error": {"status": 403, "message": "Forbidden"}}))
        pid = self.pls["Basic Mix"]["id"]
        self.assertEqual(self.emu.get(f"/v1/playlists/{pid}/tracks", self.tok)[0], 403)
        st, page = self.emu.get(f"/v1/playlists/{pid}/items", self.tok)
        self.assertEqual(st, 200)
        self.assertNotIn("popularity", page["items"][0]["item"])
        st, a = self.emu.get("/v1/artists/" + ever["artists"][0], self.tok)
        self.assertEqual(st, 200)
        self.assertNotIn("followers", a)
        foreign = self.pls["Someone Else's"]["id"]
        st, body = self.emu.get(f"/v1/playlists/{foreign}", self.tok)
        self.assertEqual(st, 200)
        self.assertNotIn("items", body["items"])
        self.assertEqual(self.emu.get(f"/v1/playlists/{foreign}/items", self.tok)[0], 403)
        # The poll filter on a playlist the app may not read: metadata and the count, no page.
        st, body = self.emu.get(f"/v1/playlists/{foreign}?fields={EmbeddedPage.POLL_FIELDS}", self.tok)
        self.assertEqual(st, 200)
        self.assertEqual(body["items"], {"total": 2})
        self.assertEqual(body["name"], "Someone Else's")
        st, body = self.emu.get(f"/v1/playlists/{pid}?fields={EmbeddedPage.POLL_FIELDS}", self.tok)
        self.assertEqual((st, body["items"]["total"], len(body["items"]["items"])), (200, 4, 4))


class Generated(unittest.TestCase):
    def test_generated_deterministic_and_fast(self):
        a = Emu("--scenario", "generated", "--playlists", "200", "--items", "500", "--seed", "7")
        try:
            ta = a.truth()
            self.assertEqual(len(ta["playlists"]), 200)
            self.assertTrue(all(p["total"] == 500 for p in ta["playlists"]))
            tok = a.token()
            t0 = time.time()
            n = 0
            for p in ta["playlists"]:
                path = f"/v1/playlists/{p['id']}"
                st, body = a.get(path, tok)
                n += 1
                nxt = body["items"]["next"]
                got = len(body["items"]["items"])
                while nxt:
                    st, page = a.get(path_of(nxt) , tok)
                    n += 1
                    self.assertEqual(st, 200)
                    got += len(page["items"])
                    nxt = page["next"]
                self.assertEqual(got, 500)
            elapsed = time.time() - t0
            print(f"\n  generated 200x500: {n} requests in {elapsed:.1f}s", file=sys.stderr)
            self.assertEqual(a.req("GET", "/_emulator/stats")[1]["requests"], n + 1)
        finally:
            a.stop()
        b = Emu("--scenario", "generated", "--playlists", "200", "--items", "500", "--seed", "7")
        try:
            tb = b.truth()
            strip = lambda t: [(p["id"], p["name"], [e["item_key"] for e in p["entries"]]) for p in t["playlists"]]
            self.assertEqual(strip(ta), strip(tb))
        finally:
            b.stop()


if __name__ == "__main__":
    unittest.main()
