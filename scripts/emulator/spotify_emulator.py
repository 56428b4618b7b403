#!/usr/bin/env python3
"""Spotify Web API emulator for spotifyd-etl tests (Python 3.11 stdlib only).

Serves the 2026 shape of the Web API (playlist `items`, entries carrying `item` and the
deprecated `track` alias), the accounts service (/api/token, /authorize with PKCE) and
test-control endpoints under /_emulator/. See README.md next to this file: it is the contract.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import re
import secrets
import signal
import sys
import threading
import time
import zlib
from collections import deque
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit, quote

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
EDITORIAL_404 = "37i9dQZF1DXcBWIGoYBM5M"
OWNER_ID = "emu_owner"
OTHER_OWNER_ID = "someone_else"


def b62id(label: str) -> str:
    """Deterministic 22-char base62 id from a label."""
    n = int.from_bytes(hashlib.sha256(label.encode()).digest(), "big")
    out = []
    for _ in range(22):
        n, r = divmod(n, 62)
        out.append(B62[r])
    return "".join(out)


def hbit(ident: str, mod: int) -> int:
    return int.from_bytes(hashlib.md5(ident.encode()).digest()[:4], "big") % mod


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


# ---------------------------------------------------------------------------------------------
# fields filter (Spotify syntax: a,b.c,d(e,f(g)))

def parse_fields(spec: str):
    """Returns a tree: dict name -> subtree (None = whole value)."""
    pos = 0

    def parse_list(end_char):
        nonlocal pos
        tree: dict = {}
        while pos < len(spec):
            if end_char and spec[pos] == end_char:
                pos += 1
                return tree
            # read a path a.b.c
            start = pos
            while pos < len(spec) and spec[pos] not in ",()":
                pos += 1
            path = spec[start:pos].strip()
            sub = None
            if pos < len(spec) and spec[pos] == "(":
                pos += 1
                sub = parse_list(")")
            parts = [p for p in path.split(".") if p]
            if parts:
                node = tree
                for p in parts[:-1]:
                    nxt = node.get(p)
                    if nxt is None or nxt is True:
                        nxt = {}
                        node[p] = nxt
                    node = nxt
                last = parts[-1]
                if sub is None:
                    node[last] = None
                else:
                    existing = node.get(last)
                    if isinstance(existing, dict):
                        existing.update(sub)
                    elif last not in node:
                        node[last] = sub
            if pos < len(spec) and spec[pos] == ",":
                pos += 1
        if end_char:
            raise ValueError("unbalanced parentheses in fields")
        return tree

    return parse_list(None)


def apply_fields(value, tree):
    if tree is None:
        return value
    if isinstance(value, list):
        return [apply_fields(v, tree) for v in value]
    if isinstance(value, dict):
        includes = {k: v for k, v in tree.items() if not k.startswith("!")}
        excludes = {k[1:] for k in tree if k.startswith("!")}
        if not includes:  # only exclusions: everything except those
            return {k: v for k, v in value.items() if k not in excludes}
        out = {}
        for k, sub in includes.items():
            if k in value:
                out[k] = apply_fields(value[k], sub)
        return out
    return value


# ---------------------------------------------------------------------------------------------
# Catalog and playlists

class Catalog:
    def __init__(self, seed: int):
        self.seed = seed
        self.artists: dict = {}
        self.albums: dict = {}
        self.tracks: dict = {}
        self.shows: dict = {}
        self.episodes: dict = {}
        self.counter = 0
        self._track_cache: dict = {}

    def artist(self, label: str, name: str | None = None, genres=None) -> str:
        aid = b62id(f"artist:{self.seed}:{label}")
        if aid not in self.artists:
            a = {
                "external_urls": {"spotify": f"https://open.spotify.com/artist/{aid}"},
                "genres": genres if genres is not None else (["indie pop", "dream pop"] if hbit(aid, 3) else []),
                "href": f"https://api.spotify.com/v1/artists/{aid}",
                "id": aid,
                "images": [{"url": f"https://i.scdn.co/image/{aid}", "height": 640, "width": 640}],
                "name": name or f"Artist {label}",
                "type": "artist",
                "uri": f"spotify:artist:{aid}",
            }
            # followers/popularity absent for ~1/4 of artists to exercise nullables
            if hbit(aid + "f", 4) != 0:
                a["followers"] = {"href": None, "total": hbit(aid, 1_000_000)}
                a["popularity"] = hbit(aid + "p", 101)
            self.artists[aid] = a
        return aid

    def simple_artist(self, aid: str) -> dict:
        a = self.artists[aid]
        return {k: a[k] for k in ("external_urls", "href", "id", "name", "type", "uri")}

    def album(self, label: str, artist_ids, name=None, release_date="2021-03-05", precision="day") -> str:
        alid = b62id(f"album:{self.seed}:{label}")
        if alid not in self.albums:
            self.albums[alid] = {
                "album_type": "album",
                "total_tracks": 10,
                "available_markets": ["DE", "US"],
                "external_urls": {"spotify": f"https://open.spotify.com/album/{alid}"},
                "href": f"https://api.spotify.com/v1/albums/{alid}",
                "id": alid,
                "images": [{"url": f"https://i.scdn.co/image/{alid}", "height": 640, "width": 640}],
                "name": name or f"Album {label}",
                "release_date": release_date,
                "release_date_precision": precision,
                "type": "album",
                "uri": f"spotify:album:{alid}",
                "artists_ids": list(artist_ids),
                "genres": [],
                "label": "Emulated Records",
                "popularity": hbit(alid, 101),
                "copyrights": [{"text": "(C) Emulated", "type": "C"}],
                "external_ids": {"upc": str(hbit(alid, 10**12)).zfill(12)},
            }
        return alid

    def simple_album(self, alid: str) -> dict:
        al = self.albums[alid]
        out = {k: v for k, v in al.items() if k not in ("artists_ids", "genres", "label", "popularity", "copyrights", "external_ids")}
        out["artists"] = [self.simple_artist(a) for a in al["artists_ids"]]
        return out

    def full_album(self, alid: str) -> dict:
        al = self.albums[alid]
        out = {k: v for k, v in al.items() if k != "artists_ids"}
        out["artists"] = [self.simple_artist(a) for a in al["artists_ids"]]
        tr = [t for t in self.tracks.values() if t["album_id"] == alid]
        items = []
        for t in tr:
            s = dict(self.track_obj(t["id"]))
            s.pop("album", None)
            s.pop("popularity", None)
            s.pop("external_ids", None)
            items.append(s)
        out["tracks"] = {"href": f"https://api.spotify.com/v1/albums/{alid}/tracks?offset=0&limit=50", "items": items,
                         "limit": 50, "next": None, "offset": 0, "previous": None, "total": len(items)}
        return out

    def track(self, label: str, name: str, artist_ids, album_id, duration=None, explicit=None, isrc=True, **extra) -> str:
        tid = extra.pop("tid", None) or b62id(f"track:{self.seed}:{label}")
        if tid not in self.tracks:
            t = {
                "id": tid,
                "name": name,
                "artist_ids": list(artist_ids),
                "album_id": album_id,
                "duration_ms": duration if duration is not None else 120_000 + hbit(tid, 240_000),
                "explicit": explicit if explicit is not None else bool(hbit(tid + "e", 5) == 0),
                "disc_number": 1,
                "track_number": 1 + hbit(tid + "n", 12),
                "isrc": (f"QZ{hbit(tid, 10**10):010d}"[:12] if isrc else None),
            }
            if hbit(tid + "pop", 5) != 0:
                t["popularity"] = hbit(tid + "p", 101)
            t.update(extra)
            self.tracks[tid] = t
        return tid

    def track_obj(self, tid: str) -> dict:
        """Cached: catalog entries never change after creation. Callers must not mutate the result."""
        obj = self._track_cache.get(tid)
        if obj is None:
            obj = self._track_cache[tid] = self._track_obj(tid)
        return obj

    def _track_obj(self, tid: str) -> dict:
        t = self.tracks[tid]
        obj = {
            "album": self.simple_album(t["album_id"]),
            "artists": [self.simple_artist(a) for a in t["artist_ids"]],
            "available_markets": ["DE", "US"],
            "disc_number": t["disc_number"],
            "duration_ms": t["duration_ms"],
            "explicit": t["explicit"],
            "external_ids": {"isrc": t["isrc"]} if t["isrc"] else {},
            "external_urls": {"spotify": f"https://open.spotify.com/track/{tid}"},
            "href": f"https://api.spotify.com/v1/tracks/{tid}",
            "id": tid,
            "is_local": False,
            "is_playable": True,
            "name": t["name"],
            "preview_url": None,
            "track_number": t["track_number"],
            "type": "track",
            "uri": f"spotify:track:{tid}",
            "episode": False,
            "track": True,
        }
        if "popularity" in t:
            obj["popularity"] = t["popularity"]
        if t.get("omit_id"):
            del obj["id"]
        return obj

    def show(self, label: str, name: str) -> str:
        sid = b62id(f"show:{self.seed}:{label}")
        if sid not in self.shows:
            self.shows[sid] = {
                "id": sid, "name": name, "publisher": "Emulated Podcasts", "type": "show",
                "uri": f"spotify:show:{sid}", "href": f"https://api.spotify.com/v1/shows/{sid}",
                "external_urls": {"spotify": f"https://open.spotify.com/show/{sid}"},
                "description": f"{name} description", "explicit": False, "media_type": "audio",
                "languages": ["en"], "total_episodes": 100, "images": [],
            }
        return sid

    def episode(self, label: str, name: str, show_id: str) -> str:
        eid = b62id(f"episode:{self.seed}:{label}")
        if eid not in self.episodes:
            self.episodes[eid] = {
                "id": eid, "name": name, "show_id": show_id,
                "duration_ms": 600_000 + hbit(eid, 3_000_000),
                "explicit": bool(hbit(eid, 4) == 0),
                "release_date": f"2025-{1 + hbit(eid, 12):02d}-{1 + hbit(eid + 'd', 28):02d}",
            }
        return eid

    def episode_obj(self, eid: str) -> dict:
        e = self.episodes[eid]
        return {
            "audio_preview_url": None,
            "description": f"{e['name']} description",
            "html_description": f"<p>{e['name']} description</p>",
            "duration_ms": e["duration_ms"],
            "explicit": e["explicit"],
            "external_urls": {"spotify": f"https://open.spotify.com/episode/{eid}"},
            "href": f"https://api.spotify.com/v1/episodes/{eid}",
            "id": eid,
            "images": [],
            "is_externally_hosted": False,
            "is_playable": True,
            "languages": ["en"],
            "name": e["name"],
            "release_date": e["release_date"],
            "release_date_precision": "day",
            "show": dict(self.shows[e["show_id"]]),
            "type": "episode",
            "uri": f"spotify:episode:{eid}",
            "episode": True,
            "track": False,
        }


def local_obj(artist: str, album: str, title: str, seconds: int) -> dict:
    uri = "spotify:local:" + ":".join(quote(x.replace(" ", "+"), safe="+") for x in (artist, album, title)) + f":{seconds}"
    return {
        "album": {"album_type": None, "artists": [], "available_markets": [], "external_urls": {}, "href": None,
                  "id": None, "images": [], "name": album, "release_date": None, "release_date_precision": None,
                  "type": "album", "uri": None},
        "artists": [{"external_urls": {}, "href": None, "id": None, "name": artist, "type": "artist", "uri": None}],
        "available_markets": [], "disc_number": 0, "duration_ms": seconds * 1000, "explicit": False,
        "external_ids": {}, "external_urls": {}, "href": None, "id": None, "is_local": True, "name": title,
        "popularity": 0, "preview_url": None, "track_number": 0, "type": "track", "uri": uri,
        "episode": False, "track": True,
    }


class Entry:
    __slots__ = ("kind", "key", "added_at", "added_by", "local")

    def __init__(self, kind, key, added_at, added_by, local=None):
        self.kind = kind  # track | episode | local | null | raw (local = the verbatim entry)
        self.key = key  # track id / episode id / local uri / None
        self.added_at = added_at  # iso string or None
        self.added_by = added_by  # user id or None
        self.local = local


class Playlist:
    def __init__(self, pid, name, owner=OWNER_ID, owned=True, dev_restricted=False, description="", public=True, collaborative=False):
        self.id = pid
        self.name = name
        self.owner = owner
        self.owned = owned
        self.dev_restricted = dev_restricted
        self.description = description
        self.public = public
        self.collaborative = collaborative
        self.entries: list[Entry] = []
        self.version = 0
        self.snapshot_id = ""
        self.bump()

    def bump(self):
        self.version += 1
        raw = hashlib.sha256(f"{self.id}:{self.version}:{time.time_ns()}".encode()).digest()
        self.snapshot_id = base64.b64encode(raw[:24]).decode()


def user_obj(uid, display=None):
    if uid is None:
        return None
    return {"external_urls": {"spotify": f"https://open.spotify.com/user/{uid}"},
            "href": f"https://api.spotify.com/v1/users/{uid}", "id": uid, "type": "user", "uri": f"spotify:user:{uid}",
            **({"display_name": display} if display is not None else {})}


class World:
    """All mutable emulator state; guarded by one lock."""

    def __init__(self, args):
        self.lock = threading.RLock()
        self.args = args
        self.seed = args.seed
        self.cat = Catalog(args.seed)
        self.playlists: dict[str, Playlist] = {}
        self.order: list[str] = []
        self.history: list[dict] = []
        self.ever = {"tracks": set(), "albums": set(), "artists": set(), "episodes": set()}
        self.clock = 1_700_000_000.0  # deterministic added_at base
        self.rng = random.Random(args.seed)
        self.pool_tracks: list[str] = []
        self.pool_episodes: list[str] = []
        self.gen_counter = 0
        # auth
        self.access: dict[str, float] = {}  # token -> expiry
        self.refresh: dict[str, bool] = {}  # refresh token -> valid
        self.codes: dict[str, dict] = {}
        self.refresh_revoked = False
        # Each refresh_token grant returns a new refresh token and invalidates the one it used.
        self.rotate_refresh = False
        # faults / stats
        self.faults: list[dict] = []
        self.not_before = 0.0
        # When the last 429 was sent. Requests arriving within `inflight_grace` of it were
        # already on the wire when the client got the 429 (other workers' in-flight requests):
        # a client cannot recall those, so they are counted apart, not as violations.
        self.window_opened = 0.0
        self.inflight_grace = args.inflight_grace_ms / 1000.0
        # /items entries without the `item` key (only the deprecated `track` alias): an API
        # that does not know `item`, so a `fields=items(item(...))` filter selects nothing.
        self.omit_item = bool(getattr(args, "omit_item", False))
        self.stats_reset()
        if args.scenario == "small":
            self.build_small()
        else:
            self.build_generated(args.playlists, args.items)

    def stats_reset(self):
        self.requests = 0
        self.by_route: dict[str, int] = {}
        self.by_playlist: dict[str, int] = {}
        self.violations = 0
        self.inflight_after_429 = 0
        self.by_status: dict[str, int] = {}
        self.recent: deque = deque(maxlen=100)  # path?query of the latest /v1 requests

    # ---- building

    def next_time(self):
        self.clock += 61
        return iso(self.clock)

    def add_playlist(self, p: Playlist):
        self.playlists[p.id] = p
        self.order.append(p.id)

    def append(self, p: Playlist, e: Entry, pos=None, event=True):
        if pos is None:
            p.entries.append(e)
        else:
            p.entries.insert(pos, e)
        if e.kind == "track":
            t = self.cat.tracks[e.key]
            self.ever["tracks"].add(e.key)
            self.ever["albums"].add(t["album_id"])
            self.ever["artists"].update(t["artist_ids"])
            self.ever["artists"].update(self.cat.albums[t["album_id"]]["artists_ids"])
        elif e.kind == "episode":
            self.ever["episodes"].add(e.key)
        if event:
            self.history.append({"playlist_id": p.id, "item_key": e.key, "type": e.kind, "event": "add", "added_at": e.added_at})

    def new_track(self):
        self.gen_counter += 1
        n = self.gen_counter
        c = self.cat
        a = c.artist(f"g{n % 97}")
        feat = [c.artist(f"g{(n * 7) % 97}")] if n % 5 == 0 else []
        al = c.album(f"g{n % 211}", [a], release_date=["2019", "2020-06", "2021-03-05"][n % 3],
                     precision=["year", "month", "day"][n % 3])
        return c.track(f"gen{n}", f"Song {n}", [a] + [f for f in feat if f != a], al)

    def new_episode(self):
        self.gen_counter += 1
        n = self.gen_counter
        s = self.cat.show(f"g{n % 5}", f"Show {n % 5}")
        return self.cat.episode(f"gen{n}", f"Episode {n}", s)

    def build_small(self):
        c = self.cat
        a1 = c.artist("a1", "Björk", ["art pop", "electronica"])
        a2 = c.artist("a2", "坂本龍一", ["ambient"])
        a3 = c.artist("a3", "فيروز", [])
        al1 = c.album("al1", [a1], "Homogenic", "1997-09-22", "day")
        al2 = c.album("al2", [a2, a1], "Async", "2017", "year")
        al3 = c.album("al3", [a3], "Ma Ba'arif", "1987-05", "month")
        t1 = c.track("t1", "Jóga", [a1], al1)
        t2 = c.track("t2", "Bachelorette", [a1], al1, explicit=True)
        t3 = c.track("t3", "andata 🎹", [a2, a1], al2)
        t4 = c.track("t4", "\u0627\u0644\u0628\u0646\u062a \u0627\u0644\u0634\u0644\u0628\u064a\u0629", [a3], al3)
        t5 = c.track("t5", "Cafe\u0301 nai\u0308ve (NFD)", [a2], al2)
        t6 = c.track("t6", "  padded title  ", [a1], al1)
        bad_id = c.track("tbad", "Missing Id Track", [a1], al1, omit_id=True)
        bad_dur = c.track("tdur", "String Duration", [a2], al2, duration="215000")
        show = c.show("s1", "Emulated Talk")
        e1 = c.episode("e1", "Episode One", show)
        e2 = c.episode("e2", "Episode Two 🎙", show)
        self.pool_tracks = [t1, t2, t3, t4, t5, t6]
        self.pool_episodes = [e1, e2]
        me = OWNER_ID
        T = self.next_time

        p = Playlist(b62id("pl:small:basic"), "Basic Mix", description="normal tracks")
        self.add_playlist(p)
        for t in (t1, t2, t3, t4):
            self.append(p, Entry("track", t, T(), me))

        p = Playlist(b62id("pl:small:edge"), "Edge Cases")
        self.add_playlist(p)
        self.append(p, Entry("track", t1, T(), me))
        self.append(p, Entry("track", t1, T(), "collab_friend"))  # duplicate with later added_at
        self.append(p, Entry("null", None, T(), me))
        loc = local_obj("Local Artist", "Local Album", "Local Title", 210)
        self.append(p, Entry("local", loc["uri"], T(), me, loc))
        self.append(p, Entry("episode", e1, T(), me))
        self.append(p, Entry("track", t5, None, None))  # null added_at / added_by
        self.append(p, Entry("track", bad_id, T(), me))
        self.append(p, Entry("track", bad_dur, T(), me))
        self.append(p, Entry("track", t6, T(), me))
        self.append(p, Entry("episode", e2, T(), me))

        p = Playlist(b62id("pl:small:unicode"), "  🎧 夜の音楽 Cafe\u0301 مزيج  ", description="unicode name with spaces")
        self.add_playlist(p)
        for t in (t3, t4, t5):
            self.append(p, Entry("track", t, T(), me))

        p = Playlist(b62id("pl:small:empty"), "Empty")
        self.add_playlist(p)

        p = Playlist(b62id("pl:small:foreign"), "Someone Else's", owner=OTHER_OWNER_ID, owned=False, dev_restricted=True)
        self.add_playlist(p)
        for t in (t1, t2):
            self.append(p, Entry("track", t, T(), OTHER_OWNER_ID))

        p = Playlist(EDITORIAL_404, "Today's Top Hits", owner="spotify", owned=False)
        self.add_playlist(p)
        self.append(p, Entry("track", t2, T(), "spotify"))

    def build_generated(self, n_pl: int, n_items: int):
        pool_size = max(50, (n_pl * n_items) // 3)
        self.pool_tracks = [self.new_track() for _ in range(pool_size)]
        self.pool_episodes = [self.new_episode() for _ in range(max(5, pool_size // 50))]
        rng = self.rng
        for i in range(n_pl):
            p = Playlist(b62id(f"pl:gen:{self.seed}:{i}"), f"Generated {i:04d}")
            self.add_playlist(p)
            for _ in range(n_items):
                self.append(p, self.random_entry(rng))

    def random_entry(self, rng, kind=None):
        r = rng.random() if kind is None else None
        if kind == "episode" or (r is not None and r < 0.02):
            return Entry("episode", rng.choice(self.pool_episodes), self.next_time(), OWNER_ID)
        if kind == "null" or (r is not None and r < 0.03):
            return Entry("null", None, self.next_time(), OWNER_ID)
        if kind == "local" or (r is not None and r < 0.04):
            self.gen_counter += 1
            loc = local_obj(f"Local Artist {self.gen_counter % 7}", "Local Album", f"Local Song {self.gen_counter}", 180 + self.gen_counter % 120)
            return Entry("local", loc["uri"], self.next_time(), OWNER_ID, loc)
        if rng.random() < 0.2 or not self.pool_tracks:
            t = self.new_track()
            self.pool_tracks.append(t)
        else:
            t = rng.choice(self.pool_tracks)
        return Entry("track", t, self.next_time(), OWNER_ID)

    # ---- mutation

    def mutate(self, pid: str, ops: list, rng=None) -> dict:
        p = self.playlists.get(pid)
        if p is None:
            raise KeyError(pid)
        rng = rng or self.rng
        for op in ops:
            kind = op.get("op")
            if kind == "add":
                for _ in range(int(op.get("count", 1))):
                    self.append(p, self.random_entry(rng, "track"), op.get("position"))
            elif kind == "add_track":
                tid = op["track_id"]
                if tid not in self.cat.tracks:
                    raise ValueError(f"unknown track {tid}")
                self.append(p, Entry("track", tid, self.next_time(), op.get("added_by", OWNER_ID)), op.get("position"))
            elif kind == "add_raw":
                if "entry" not in op:
                    raise ValueError("add_raw needs an entry")
                self.append(p, Entry("raw", None, None, None, op["entry"]), op.get("position"))
            elif kind in ("add_null", "add_local", "add_episode"):
                self.append(p, self.random_entry(rng, kind[4:]), op.get("position"))
            elif kind == "remove":
                for pos in sorted(set(int(x) for x in op["positions"]), reverse=True):
                    if not 0 <= pos < len(p.entries):
                        raise ValueError(f"position {pos} out of range")
                    e = p.entries.pop(pos)
                    self.history.append({"playlist_id": p.id, "item_key": e.key, "type": e.kind, "event": "remove", "added_at": e.added_at})
            elif kind == "move":
                f, t = int(op["from"]), int(op["to"])
                if not (0 <= f < len(p.entries)) or not (0 <= t <= len(p.entries)):
                    raise ValueError("move out of range")
                e = p.entries.pop(f)
                p.entries.insert(min(t, len(p.entries)), e)
            elif kind == "rename":
                p.name = op["name"]
            elif kind == "duplicate":
                src = p.entries[int(op["position"])]
                self.append(p, Entry(src.kind, src.key, self.next_time(), OWNER_ID, src.local))
            elif kind == "clear":
                while p.entries:
                    e = p.entries.pop()
                    self.history.append({"playlist_id": p.id, "item_key": e.key, "type": e.kind, "event": "remove", "added_at": e.added_at})
            else:
                raise ValueError(f"unknown op {kind!r}")
            p.bump()
        return {"playlist_id": p.id, "snapshot_id": p.snapshot_id, "total": len(p.entries), "name": p.name}

    def mutate_random(self, seed: int, k: int) -> list:
        rng = random.Random(seed)
        candidates = [pid for pid in self.order if self.playlists[pid].owned and not self.playlists[pid].dev_restricted]
        chosen = rng.sample(candidates, min(k, len(candidates)))
        out = []
        for pid in chosen:
            p = self.playlists[pid]
            ops = []
            choice = rng.random()
            if choice < 0.4 or not p.entries:
                ops.append({"op": "add", "count": rng.randint(1, 5)})
            elif choice < 0.7:
                n = len(p.entries)
                ops.append({"op": "remove", "positions": rng.sample(range(n), min(n, rng.randint(1, 3)))})
            elif choice < 0.85:
                n = len(p.entries)
                ops.append({"op": "move", "from": rng.randrange(n), "to": rng.randrange(n)})
            else:
                ops.append({"op": "rename", "name": f"{p.name.split(' ~')[0]} ~{rng.randint(0, 9999)}"})
            out.append({"ops": ops, **self.mutate(pid, ops, rng)})
        return out

    # ---- rendering

    def entry_obj(self, e: Entry, episodes_ok: bool, legacy: bool) -> dict:
        if e.kind == "raw":
            return e.local  # served verbatim (the fields filter still applies)
        if e.kind == "track":
            obj = self.cat.track_obj(e.key)
        elif e.kind == "episode":
            obj = self.cat.episode_obj(e.key) if episodes_ok else None
        elif e.kind == "local":
            obj = e.local
        else:
            obj = None
        out = {
            "added_at": e.added_at,
            "added_by": user_obj(e.added_by),
            "is_local": e.kind == "local",
            "primary_color": None,
            "video_thumbnail": {"url": None},
        }
        if legacy or self.omit_item:
            out["track"] = obj
        else:
            out["item"] = obj
            out["track"] = obj
        return out

    def truth(self) -> dict:
        pls = []
        for pid in self.order:
            p = self.playlists[pid]
            pls.append({
                "id": p.id, "snapshot_id": p.snapshot_id, "name": p.name, "owner": p.owner, "owned": p.owned,
                "dev_restricted": p.dev_restricted, "not_found": p.id == EDITORIAL_404, "total": len(p.entries),
                "entries": [{"position": i, "item_key": e.key, "type": e.kind, "added_at": e.added_at, "added_by": e.added_by}
                            for i, e in enumerate(p.entries)],
            })
        return {"playlists": pls, "history": self.history,
                "ever": {k: sorted(v) for k, v in self.ever.items()}}



# ---------------------------------------------------------------------------------------------
# Hostile answers: fault rules that shape any answer (see README, "Fault rules")

# Fields that change an answer's headers or body. A rule with none of them (and no status, or
# status 0) only delays.
SHAPING_FIELDS = ("headers", "retry_after", "patch", "patch_raw", "gzip", "gzip_bomb_bytes", "body_size",
                  "deep_nesting", "wide_keys", "endless", "truncate", "embed_at")
GENERATOR_FIELDS = ("deep_nesting", "wide_keys", "gzip_bomb_bytes", "body_size", "endless")
CHUNK = 256 * 1024
JUNK = b"<html><body><h1>502 Bad Gateway</h1>\xff\xfe junk, not JSON </body></html>\n"


def validate_rule(r: dict) -> None:
    """Raises ValueError for a rule whose fields have the wrong types (a 400 to the test)."""
    if not isinstance(r, dict):
        raise ValueError("a fault rule is a JSON object")
    for k in ("status", "count", "after", "delay_ms", "body_size", "gzip_bomb_bytes", "deep_nesting", "wide_keys",
              "rate_bytes_per_s"):
        if k in r and r[k] is not None and (not isinstance(r[k], int) or isinstance(r[k], bool)):
            raise ValueError(f"fault field {k} must be an integer")
    for k in ("body_size", "gzip_bomb_bytes", "deep_nesting", "wide_keys", "rate_bytes_per_s", "delay_ms"):
        if isinstance(r.get(k), int) and r[k] < 0:
            raise ValueError(f"fault field {k} must be >= 0")
    if r.get("body_fill", "page") not in ("page", "junk"):
        raise ValueError("body_fill must be \"page\" or \"junk\"")
    for k in ("headers", "patch", "patch_raw"):
        if k in r and not isinstance(r[k], dict):
            raise ValueError(f"fault field {k} must be an object")
    if any(not isinstance(v, str) for v in r.get("patch_raw", {}).values()):
        raise ValueError("patch_raw values are JSON texts (strings), sent verbatim")
    if "embed_at" in r and not isinstance(r["embed_at"], str):
        raise ValueError("embed_at must be a dotted path")


def is_shaping(rule: dict) -> bool:
    return any(rule.get(k) not in (None, False) for k in SHAPING_FIELDS)


def has_own_body(rule: dict) -> bool:
    """The rule replaces the body instead of shaping the normal answer."""
    return ("json" in rule or rule.get("body") is not None
            or (rule.get("body_fill") == "junk" and any(rule.get(k) for k in GENERATOR_FIELDS)))


def path_segments(path: str) -> list:
    return [int(p) if p.lstrip("-").isdigit() else p for p in path.split(".") if p != ""]


def set_at(obj, path: str, value) -> bool:
    """Sets `value` at a dotted path (integer segments index lists; missing object keys are
    created). False when the path runs into a non-container or a list index out of range."""
    segs = path_segments(path)
    if not segs:
        return False
    node = obj
    for i, seg in enumerate(segs):
        last = i == len(segs) - 1
        if isinstance(node, dict):
            key = str(seg)
            if last:
                node[key] = value
                return True
            if not isinstance(node.get(key), (dict, list)):
                node[key] = {}
            node = node[key]
        elif isinstance(node, list) and isinstance(seg, int) and -len(node) <= seg < len(node):
            if last:
                node[seg] = value
                return True
            node = node[seg]
        else:
            return False
    return False


class Part:
    """One piece of a body: fixed bytes or a generated run, with its length (None = endless)."""

    def __init__(self, length, chunks):
        self.length = length
        self.chunks = chunks  # zero-argument callable returning an iterator of bytes

    @staticmethod
    def fixed(b: bytes) -> "Part":
        return Part(len(b), lambda: iter([b]) if b else iter([]))

    @staticmethod
    def repeat(pattern: bytes, n) -> "Part":
        """`n` bytes of `pattern` repeated (n None: forever)."""
        block = pattern * max(1, CHUNK // len(pattern))

        def gen():
            left = n
            while left is None or left > 0:
                take = block if left is None else block[:min(len(block), left)]
                if left is not None:
                    left -= len(take)
                yield take
        return Part(n, gen)

    @staticmethod
    def nesting(depth: int) -> "Part":
        def gen():
            for c in (b"[", b"]"):
                left = depth
                while left > 0:
                    k = min(CHUNK, left)
                    left -= k
                    yield c * k
        return Part(2 * depth, gen)

    @staticmethod
    def wide_object(keys: int) -> "Part":
        """`{"k0":0,"k1":1,...}` with `keys` members, made a block of keys at a time."""
        def blocks():
            yield b"{"
            for start in range(0, keys, 20_000):
                yield ",".join(f'"k{i}":{i}' for i in range(start, min(keys, start + 20_000))).encode() + \
                    (b"," if start + 20_000 < keys else b"")
            yield b"}"
        # Length without building the text: each member is `"k<i>":<i>` plus a comma between.
        length = 2 + max(0, keys - 1)
        for digits in range(1, 20):
            lo, hi = (0 if digits == 1 else 10 ** (digits - 1)), min(keys, 10 ** digits)
            if lo >= hi:
                break
            length += (hi - lo) * (4 + 2 * digits)
        return Part(length, blocks)


def hostile_body(base, rule: dict) -> list:
    """The body a rule sends, as Parts. `base` is the answer object to shape (the normal answer
    or the default error object), raw bytes (a rule's `body`), or None (a junk-only body)."""
    fill = rule.get("body_fill", "page")
    endless = bool(rule.get("endless"))
    bomb = rule.get("gzip_bomb_bytes")
    if fill == "junk" and any(rule.get(k) for k in GENERATOR_FIELDS):
        if rule.get("deep_nesting"):
            return [Part.nesting(rule["deep_nesting"])]
        if rule.get("wide_keys"):
            return [Part.wide_object(rule["wide_keys"])]
        if bomb:
            return [Part.repeat(b"\0", None if endless else bomb)]
        return [Part.repeat(JUNK, None if endless else rule.get("body_size", 0))]
    if isinstance(base, (bytes, bytearray)):
        return [Part.fixed(bytes(base))]
    obj = json.loads(json.dumps(base))  # a private copy: the catalog's objects are shared
    raws = {}
    misses = 0
    for path, value in (rule.get("patch") or {}).items():
        misses += not set_at(obj, path, value)
    for i, (path, text) in enumerate((rule.get("patch_raw") or {}).items()):
        token = f"@@emulator-raw-{i}-{secrets.token_hex(8)}@@"
        raws[json.dumps(token)] = text
        misses += not set_at(obj, path, token)
    gen_token = None
    if any(rule.get(k) for k in GENERATOR_FIELDS):
        gen_token = f"@@emulator-gen-{secrets.token_hex(8)}@@"
        misses += not set_at(obj, rule.get("embed_at", "_pad"), gen_token)
    rule["patch_misses"] = rule.get("patch_misses", 0) + misses
    text = json.dumps(obj, ensure_ascii=False)
    for quoted, raw in raws.items():
        text = text.replace(quoted, raw)
    if gen_token is None or json.dumps(gen_token) not in text:
        return [Part.fixed(text.encode())]
    head, tail = (x.encode() for x in text.split(json.dumps(gen_token), 1))
    if rule.get("deep_nesting"):
        mid = [Part.nesting(rule["deep_nesting"])]
    elif rule.get("wide_keys"):
        mid = [Part.wide_object(rule["wide_keys"])]
    else:
        # A JSON string padding the answer up to body_size (or the bomb's size) in all.
        target = bomb or rule.get("body_size") or 0
        pad = None if endless else max(0, target - len(head) - len(tail) - 2)
        mid = [Part.fixed(b'"'), Part.repeat(b"0" if bomb else b"x", pad)] + ([] if endless else [Part.fixed(b'"')])
    return [Part.fixed(head)] + mid + ([] if endless else [Part.fixed(tail)])


def stream(parts: list, limit=None):
    """The bytes of `parts` in order, at most `limit` of them."""
    left = limit
    for part in parts:
        for c in part.chunks():
            if left is not None:
                if left <= 0:
                    return
                c = c[:left]
                left -= len(c)
            yield c


def gzipped(chunks, level: int):
    z = zlib.compressobj(level, zlib.DEFLATED, 31)
    for c in chunks:
        out = z.compress(c)
        if out:
            yield out
    yield z.flush()


# ---------------------------------------------------------------------------------------------
# HTTP

DEV_STRIP = {"track": ("popularity", "available_markets"), "album": ("popularity", "available_markets"),
             "artist": ("followers", "popularity"), "show": ("available_markets", "publisher")}


def strip_dev(v):
    """Development-mode apps (Feb 2026) no longer receive these fields."""
    if isinstance(v, list):
        return [strip_dev(x) for x in v]
    if isinstance(v, dict):
        drop = DEV_STRIP.get(v.get("type"), ()) if isinstance(v.get("type"), str) else ()
        return {k: strip_dev(x) for k, x in v.items() if k not in drop}
    return v


class ApiError(Exception):
    def __init__(self, status, message, headers=None, body=None):
        self.status, self.message, self.headers, self.body = status, message, headers or {}, body


def parse_retry_after(v) -> float:
    if v is None:
        return 0.0
    try:
        return float(v)
    except ValueError:
        from email.utils import parsedate_to_datetime
        try:
            return max(0.0, parsedate_to_datetime(v).timestamp() - time.time())
        except Exception:
            return 0.0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The headers and the body leave in two writes; with Nagle on, the body waits for the
    # client's delayed ACK of the headers (40 ms on Linux), which capped the emulator near
    # 80 answers/s at concurrency 4 with both processes idle. Spotify's edge does not stall so.
    disable_nagle_algorithm = True
    server_version = "SpotifyEmulator/1.0"
    world: World = None  # set on class

    def log_message(self, fmt, *args):
        if os.environ.get("SPOTIFY_EMULATOR_LOG"):
            sys.stderr.write("emulator: " + (fmt % args) + "\n")

    # -- plumbing
    def base_url(self):
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        return f"http://{host}"

    def read_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, status, obj=None, headers=None, raw: bytes | None = None, ctype="application/json; charset=utf-8", truncate=False):
        rule, self._shape = getattr(self, "_shape", None), None
        if rule is not None:  # a fault rule shapes this (normal) answer
            forced = rule.get("status")
            return self.emit(forced if forced not in (None, 0) else status,
                             raw if raw is not None else obj, rule, headers=headers, ctype=ctype)
        body = raw if raw is not None else (b"" if obj is None and status == 204 else json.dumps(obj, ensure_ascii=False).encode())
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if status != 204:
            self.send_header("Content-Type", ctype)
        if truncate:
            cut = body[: max(1, len(body) // 2)]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(cut)
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def api_error(self, status, message, headers=None):
        self.send(status, {"error": {"status": status, "message": message}}, headers)

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_PUT(self):
        self.dispatch("PUT")

    def dispatch(self, method):
        self._shape = None  # the connection's handler serves many requests: no rule carries over
        try:
            u = urlsplit(self.path)
            path = u.path
            q = {k: v[-1] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
            if path.startswith("/_emulator/"):
                return self.control(method, path, q)
            if path == "/api/token" and method == "POST":
                return self.token(q)
            if path == "/authorize" and method == "GET":
                return self.authorize(q)
            if path.startswith("/v1/") and method == "GET":
                return self.api(path, q, u.query)
            self.api_error(404, "Service not found")
        except ApiError as e:
            if e.body is not None:
                self.send(e.status, raw=e.body.encode(), headers=e.headers)
            else:
                self.api_error(e.status, e.message, e.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # never let a bug kill the server thread silently
            import traceback
            traceback.print_exc()
            try:
                self.api_error(500, f"emulator bug: {e}")
            except Exception:
                pass

    # -- accounts
    def accounts_error(self, status, error, desc):
        self.send(status, {"error": error, "error_description": desc})

    def token(self, q):
        w = self.world
        body = self.read_body().decode("utf-8", "replace")
        form = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
        with w.lock:
            w.requests += 1
            w.by_route["token"] = w.by_route.get("token", 0) + 1
            fault = self.match_fault("/api/token")
        if fault and self.fire(fault):
            return
        cid = csec = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                cid, _, csec = base64.b64decode(auth[6:]).decode().partition(":")
            except Exception:
                return self.accounts_error(400, "invalid_client", "Invalid client")
        else:
            cid, csec = form.get("client_id"), form.get("client_secret")
        grant = form.get("grant_type")
        a = w.args
        if cid != a.client_id:
            return self.accounts_error(400, "invalid_client", "Invalid client")
        if grant == "authorization_code" and csec is None and "code_verifier" in form:
            pass  # PKCE public client: no secret needed
        elif csec != a.client_secret:
            return self.accounts_error(400, "invalid_client", "Invalid client secret")
        with w.lock:
            if grant == "client_credentials":
                return self.send(200, self.issue(False))
            if grant == "refresh_token":
                rt = form.get("refresh_token")
                if not rt or w.refresh_revoked or not w.refresh.get(rt):
                    return self.accounts_error(400, "invalid_grant", "Refresh token revoked")
                out = self.issue(w.rotate_refresh)
                if w.rotate_refresh:
                    w.refresh[rt] = False  # rotated: the previous token is now invalid_grant
                out["scope"] = "playlist-read-private playlist-read-collaborative"
                return self.send(200, out)
            if grant == "authorization_code":
                code = form.get("code")
                info = w.codes.pop(code, None) if code else None
                if info is None:
                    return self.accounts_error(400, "invalid_grant", "Invalid authorization code")
                if form.get("redirect_uri") != info["redirect_uri"]:
                    return self.accounts_error(400, "invalid_grant", "Invalid redirect URI")
                if info.get("code_challenge"):
                    ver = form.get("code_verifier", "")
                    calc = base64.urlsafe_b64encode(hashlib.sha256(ver.encode()).digest()).rstrip(b"=").decode()
                    if calc != info["code_challenge"]:
                        return self.accounts_error(400, "invalid_grant", "code_verifier was incorrect")
                out = self.issue(True)
                out["scope"] = info.get("scope", "")
                return self.send(200, out)
        return self.accounts_error(400, "unsupported_grant_type", f"grant_type {grant!r} is not supported")

    def issue(self, with_refresh: bool) -> dict:
        w = self.world
        tok = "emu-at-" + secrets.token_urlsafe(24)
        w.access[tok] = time.time() + w.args.token_ttl
        out = {"access_token": tok, "token_type": "Bearer", "expires_in": w.args.token_ttl}
        if with_refresh:
            rt = "emu-rt-" + secrets.token_urlsafe(24)
            w.refresh[rt] = True
            out["refresh_token"] = rt
        return out

    def authorize(self, q):
        w = self.world
        if q.get("client_id") != w.args.client_id:
            return self.send(400, raw=b"INVALID_CLIENT: Invalid client", ctype="text/plain")
        ru = q.get("redirect_uri")
        if not ru or q.get("response_type") != "code":
            return self.send(400, raw=b"INVALID_REQUEST", ctype="text/plain")
        if q.get("code_challenge") and q.get("code_challenge_method", "S256") != "S256":
            return self.send(400, raw=b"code_challenge_method not supported", ctype="text/plain")
        code = "emu-code-" + secrets.token_urlsafe(16)
        with w.lock:
            w.codes[code] = {"redirect_uri": ru, "code_challenge": q.get("code_challenge"), "scope": q.get("scope", "")}
            w.by_route["authorize"] = w.by_route.get("authorize", 0) + 1
        params = {"code": code}
        if "state" in q:
            params["state"] = q["state"]
        sep = "&" if "?" in ru else "?"
        self.send_response(302)
        self.send_header("Location", ru + sep + urlencode(params))
        self.send_header("Content-Length", "0")
        self.end_headers()

    # -- faults
    def match_fault(self, path_and_query):
        """Caller holds the lock. Returns the rule that fires, or None."""
        w = self.world
        for rule in w.faults:
            if rule["_re"].search(path_and_query) is None:
                continue
            if rule["count"] == 0:
                continue
            if rule["_skipped"] < rule.get("after", 0):
                rule["_skipped"] += 1
                continue
            if rule["count"] > 0:
                rule["count"] -= 1
            rule["fired"] += 1
            if rule.get("status") == 429:
                raw_ra = rule.get("retry_after")
                for k, v in (rule.get("headers") or {}).items():
                    if k.lower() == "retry-after":
                        raw_ra = v
                ra = parse_retry_after(raw_ra)
                w.window_opened = time.time()
                w.not_before = max(w.not_before, w.window_opened + ra)
            return rule
        return None

    def fire(self, rule):
        """Applies a matched rule. True: the rule sent the whole answer. None: carry on with
        the normal answer (a delay-only rule, or one that shapes it: `send` applies `_shape`)."""
        if rule.get("delay_ms"):
            time.sleep(rule["delay_ms"] / 1000.0)
        status = rule.get("status")
        if not has_own_body(rule) and status in (None, 0, 200):
            if status == 200 or is_shaping(rule):
                self._shape = rule
            return None
        if status in (None, 0):
            status = 200
        if rule.get("body") is not None:
            base = rule["body"].encode()
        elif "json" in rule:
            base = rule["json"]
        else:
            msgs = {429: "API rate limit exceeded", 500: "Server error", 502: "Bad gateway", 503: "Service unavailable",
                    504: "Gateway timeout", 403: "Forbidden", 404: "Resource not found", 401: "The access token expired"}
            err = {"status": status, "message": msgs.get(status, "Error")}
            if rule.get("reason"):
                err["reason"] = rule["reason"]
            base = {"error": err}
        self.emit(status, base, rule)
        return True

    def emit(self, status, base, rule, headers=None, ctype="application/json; charset=utf-8"):
        """Sends `base` (an object or raw bytes) shaped by `rule`: its headers, patches,
        generated runs, gzip, truncation, endless stream and pace. Generated bodies are made
        a chunk at a time while they are written, never held whole."""
        hdrs = dict(headers or {})
        if rule.get("retry_after") is not None:
            hdrs["Retry-After"] = str(rule["retry_after"])
        for k, v in (rule.get("headers") or {}).items():
            for old in [h for h in hdrs if h.lower() == k.lower()]:
                del hdrs[old]
            hdrs[k] = str(v)
        lower = {h.lower() for h in hdrs}
        with self.world.lock:
            parts = hostile_body(base, rule)
        endless = any(p.length is None for p in parts)
        length = None if endless else sum(p.length for p in parts)
        gz = bool(rule.get("gzip") or rule.get("gzip_bomb_bytes"))
        chunked = gz or endless
        truncate = bool(rule.get("truncate")) and not endless
        self.send_response(status)
        if "content-type" not in lower:
            self.send_header("Content-Type", ctype)
        for k, v in hdrs.items():
            self.send_header(k, v)
        if gz and "content-encoding" not in lower:
            self.send_header("Content-Encoding", "gzip")
        if chunked:
            if "transfer-encoding" not in lower:
                self.send_header("Transfer-Encoding", "chunked")
        elif "content-length" not in lower:
            self.send_header("Content-Length", str(length))
        if truncate or endless:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD":
            return
        chunks = stream(parts, limit=max(1, length // 2) if truncate else None)
        if gz:
            chunks = gzipped(chunks, 9 if rule.get("gzip_bomb_bytes") else 6)
        rate = rule.get("rate_bytes_per_s") or 0
        started, sent = time.monotonic(), 0
        for c in chunks:
            for i in range(0, len(c), 64 * 1024):
                piece = c[i:i + 64 * 1024]
                if not piece:
                    continue
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
                if rate:
                    ahead = sent / rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)
        if chunked and not truncate:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # -- API
    def api(self, path, q, rawq):
        w = self.world
        parts = [p for p in path.split("/") if p][1:]  # drop 'v1'
        route, pid = self.route_of(parts)
        now = time.time()
        with w.lock:
            w.requests += 1
            w.by_route[route] = w.by_route.get(route, 0) + 1
            w.recent.append(path + ("?" + rawq if rawq else ""))
            if pid:
                w.by_playlist[pid] = w.by_playlist.get(pid, 0) + 1
            if now < w.not_before:
                if now >= w.window_opened + w.inflight_grace:
                    w.violations += 1
                else:
                    w.inflight_after_429 += 1
            auth = self.headers.get("Authorization", "")
            tok = auth[7:] if auth.startswith("Bearer ") else None
            exp = w.access.get(tok) if tok else None
            fault = self.match_fault(path + ("?" + rawq if rawq else ""))
        if fault and self.fire(fault):
            return
        if not tok:
            raise ApiError(401, "No token provided")
        if exp is None:
            raise ApiError(401, "Invalid access token")
        if exp <= now:
            raise ApiError(401, "The access token expired")
        with w.lock:
            obj = self.api_locked(route, parts, q, rawq)
        if w.args.dev_mode:
            obj = strip_dev(obj)
        self.send(200, obj)

    @staticmethod
    def route_of(parts):
        if len(parts) >= 2 and parts[0] == "playlists":
            if len(parts) == 2:
                return "playlist", parts[1]
            if len(parts) == 3 and parts[2] == "items":
                return "items", parts[1]
            if len(parts) == 3 and parts[2] == "tracks":
                return "tracks_legacy", parts[1]
        if parts and parts[0] in ("artists", "tracks", "albums", "episodes"):
            single = {"artists": "artist", "tracks": "track", "albums": "album", "episodes": "episode"}[parts[0]]
            return (single if len(parts) == 2 else parts[0] + "_batch"), None
        return "other", None

    def fields_tree(self, q):
        f = q.get("fields")
        if not f:
            return None
        try:
            return parse_fields(f)
        except ValueError as e:
            raise ApiError(400, f"Invalid fields parameter: {e}")

    def get_playlist(self, pid) -> Playlist:
        p = self.world.playlists.get(pid)
        if p is None or pid == EDITORIAL_404:
            raise ApiError(404, "Resource not found")
        return p

    def page(self, p: Playlist, q, rawq, legacy, base_path, limit_default, limit_max, link_limit=None):
        try:
            limit = int(q.get("limit", limit_default))
            offset = int(q.get("offset", 0))
        except ValueError:
            raise ApiError(400, "Invalid limit/offset")
        if limit < 1 or limit > limit_max:
            raise ApiError(400, "Invalid limit")
        if offset < 0:
            raise ApiError(400, "Invalid offset")
        types = [t.strip() for t in q.get("additional_types", "").split(",")]
        episodes_ok = "episode" in types
        total = len(p.entries)
        items = [self.world.entry_obj(e, episodes_ok, legacy) for e in p.entries[offset: offset + limit]]
        base = self.base_url() + base_path

        def link(off, lim=limit):
            params = {k: v for k, v in q.items()}
            params["offset"] = str(off)
            params["limit"] = str(lim)
            return base + "?" + urlencode(params, safe=",()")

        return {
            "href": link(offset),
            "items": items,
            "limit": limit,
            "next": link(offset + limit, link_limit or limit) if offset + limit < total else None,
            "offset": offset,
            "previous": link(max(0, offset - limit), link_limit or limit) if offset > 0 else None,
            "total": total,
        }

    def api_locked(self, route, parts, q, rawq):
        w = self.world
        dev = w.args.dev_mode
        if route == "playlist":
            p = self.get_playlist(parts[1])
            base = self.base_url() + f"/v1/playlists/{p.id}"
            obj = {
                "collaborative": p.collaborative,
                "description": p.description,
                "external_urls": {"spotify": f"https://open.spotify.com/playlist/{p.id}"},
                "followers": {"href": None, "total": hbit(p.id, 1000)},
                "href": base,
                "id": p.id,
                "images": [{"url": f"https://mosaic.scdn.co/640/{p.id}", "height": 640, "width": 640}],
                "name": p.name,
                "owner": user_obj(p.owner, "Emulated Owner" if p.owner == OWNER_ID else p.owner),
                "primary_color": None,
                "public": p.public,
                "snapshot_id": p.snapshot_id,
                "type": "playlist",
                "uri": f"spotify:playlist:{p.id}",
            }
            if (dev and not p.owned) or p.dev_restricted:
                obj["items"] = {"href": base + "/items", "total": len(p.entries)}
            else:
                pg = self.page(p, {k: v for k, v in q.items() if k in ("market", "additional_types")}, rawq, False,
                               f"/v1/playlists/{p.id}/items", 100, 100, link_limit=50)
                obj["items"] = pg
            return apply_fields(obj, self.fields_tree(q))
        if route in ("items", "tracks_legacy"):
            p = self.get_playlist(parts[1])
            if route == "tracks_legacy" and dev:
                raise ApiError(403, "Forbidden")
            if p.dev_restricted or (dev and not p.owned):
                raise ApiError(403, "Forbidden")
            pg = self.page(p, q, rawq, route == "tracks_legacy", f"/v1/playlists/{p.id}/{parts[2]}", 20, 50)
            return apply_fields(pg, self.fields_tree(q))
        if route.endswith("_batch"):
            if dev:
                raise ApiError(403, "Forbidden")
            ids = [i for i in q.get("ids", "").split(",") if i]
            if not ids:
                raise ApiError(400, "invalid id")
            if len(ids) > 50:
                raise ApiError(400, "Too many ids requested")
            kind = parts[0]
            return {kind: [self.lookup(kind, i) for i in ids]}
        if route in ("artist", "track", "album", "episode"):
            obj = self.lookup(parts[0], parts[1])
            if obj is None:
                raise ApiError(404 if re.fullmatch(r"[0-9A-Za-z]{22}", parts[1]) else 400,
                               "Resource not found" if re.fullmatch(r"[0-9A-Za-z]{22}", parts[1]) else "invalid id")
            return apply_fields(obj, self.fields_tree(q))
        raise ApiError(404, "Service not found")

    def lookup(self, kind, i):
        c = self.world.cat
        if kind == "artists":
            return c.artists.get(i)
        if kind == "tracks":
            return c.track_obj(i) if i in c.tracks and not c.tracks[i].get("omit_id") else None
        if kind == "albums":
            return c.full_album(i) if i in c.albums else None
        if kind == "episodes":
            return c.episode_obj(i) if i in c.episodes else None
        return None

    # -- control
    def control(self, method, path, q):
        w = self.world
        body = self.read_body()
        try:
            data = json.loads(body) if body else None
        except json.JSONDecodeError as e:
            return self.send(400, {"error": f"bad json: {e}"})
        name = path[len("/_emulator/"):].rstrip("/")
        try:
            with w.lock:
                if name == "stats" and method == "GET" and q.get("brief"):
                    # Without the per-playlist counts: a poller asking every second must not hold
                    # the lock (and so every API answer) while 100,000 of them are serialised.
                    return self.send(200, {"requests": w.requests, "by_route": w.by_route, "violations": w.violations})
                if name == "stats" and method == "GET":
                    return self.send(200, {"requests": w.requests, "by_route": w.by_route, "by_playlist": w.by_playlist,
                                           "violations": w.violations, "recent": list(w.recent),
                                           "inflight_after_429": w.inflight_after_429, "not_before": w.not_before,
                                           "faults": [{k: v for k, v in r.items() if not k.startswith("_")} for r in w.faults]})
                if name == "stats/reset" and method == "POST":
                    w.stats_reset()
                    return self.send(200, {"ok": True})
                if name == "config" and method == "POST":
                    d = data or {}
                    if "omit_item" in d:
                        w.omit_item = bool(d["omit_item"])
                    if "rotate_refresh" in d:
                        w.rotate_refresh = bool(d["rotate_refresh"])
                    return self.send(200, {"omit_item": w.omit_item, "rotate_refresh": w.rotate_refresh})
                if name == "truth" and method == "GET":
                    return self.send(200, w.truth())
                if name == "mutate" and method == "POST":
                    return self.send(200, w.mutate(data["playlist_id"], data.get("ops", [])))
                if name == "mutate_random" and method == "POST":
                    return self.send(200, {"mutations": w.mutate_random(int(data.get("seed", 0)), int(data.get("playlists", 1)))})
                if name == "faults" and method == "POST":
                    rules = data if isinstance(data, list) else (data.get("rules") if isinstance(data, dict) and "rules" in data else [data])
                    for r in rules:
                        validate_rule(r)
                    for r in rules:
                        r = dict(r)
                        r["_re"] = re.compile(r.get("path_regex", ".*"))
                        r.setdefault("count", -1)
                        r.setdefault("after", 0)
                        r["_skipped"] = 0
                        r["fired"] = 0
                        w.faults.append(r)
                    return self.send(200, {"ok": True, "rules": len(w.faults)})
                if name == "faults" and method == "DELETE":
                    w.faults.clear()
                    w.not_before = 0.0
                    return self.send(200, {"ok": True})
                if name == "tokens" and method == "POST":
                    d = data or {}
                    if d.get("expire_access"):
                        for t in w.access:
                            w.access[t] = 0.0
                    if d.get("revoke_refresh"):
                        w.refresh_revoked = True
                    if d.get("restore_refresh"):
                        w.refresh_revoked = False
                    return self.send(200, {"ok": True, "access_tokens": len(w.access), "refresh_revoked": w.refresh_revoked})
                if name == "playlists" and method == "POST":
                    d = data or {}
                    w.gen_counter += 1
                    pid = d.get("id") or b62id(f"pl:created:{w.seed}:{w.gen_counter}:{len(w.order)}")
                    if pid in w.playlists:
                        return self.send(409, {"error": "playlist exists"})
                    owned = bool(d.get("owned", True))
                    p = Playlist(pid, d.get("name", f"Created {len(w.order)}"), owner=OWNER_ID if owned else OTHER_OWNER_ID,
                                 owned=owned, dev_restricted=bool(d.get("dev_restricted", False)),
                                 description=d.get("description", ""))
                    w.add_playlist(p)
                    for _ in range(int(d.get("items", 0))):
                        w.append(p, w.random_entry(w.rng))
                    if d.get("items"):
                        p.bump()
                    return self.send(200, {"id": p.id, "snapshot_id": p.snapshot_id, "total": len(p.entries)})
                if name == "playlists" and method == "GET":
                    return self.send(200, {"ids": list(w.order)})
                if name == "playlists/delete" and method == "POST":
                    pid = data["playlist_id"]
                    w.playlists.pop(pid)
                    w.order.remove(pid)
                    return self.send(200, {"ok": True})
                if name == "health":
                    return self.send(200, {"ok": True})
        except KeyError as e:
            return self.send(404, {"error": f"not found: {e}"})
        except (ValueError, TypeError, IndexError, re.error) as e:
            return self.send(400, {"error": str(e)})
        return self.send(404, {"error": f"unknown control endpoint {method} {path}"})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main(argv=None):
    ap = argparse.ArgumentParser(description="Spotify Web API emulator")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--scenario", choices=["small", "generated"], default="small")
    ap.add_argument("--playlists", type=int, default=10)
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--client-id", default="test-client")
    ap.add_argument("--client-secret", default="test-secret")
    ap.add_argument("--token-ttl", type=int, default=3600)
    ap.add_argument("--dev-mode", action="store_true")
    ap.add_argument("--omit-item", action="store_true",
                    help="/items entries carry only the deprecated `track` alias, no `item` key")
    ap.add_argument("--inflight-grace-ms", type=int, default=500,
                    help="requests arriving this soon after a 429 was sent count as in flight, not violations")
    ap.add_argument("--exit-with-parent", action="store_true",
                    help="shut down when the launching process dies (used by the Swift launcher)")
    args = ap.parse_args(argv)

    Handler.world = World(args)
    srv = Server(("127.0.0.1", args.port), Handler)
    port = srv.server_address[1]

    def stop(signum, frame):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.exit_with_parent:
        parent = os.getppid()

        def watch():
            while True:
                time.sleep(1.0)
                if os.getppid() != parent:
                    srv.shutdown()
                    return

        threading.Thread(target=watch, daemon=True).start()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.replace(tmp, args.port_file)
    print(f"spotify emulator listening on 127.0.0.1:{port}", flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
