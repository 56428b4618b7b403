#!/usr/bin/env python3
"""The pipeline a user would otherwise run from cron: a faithful Python peer of spotifyd-etl
for the side-by-side benchmark (scripts/bench). Not part of the product.

One invocation = one cycle, stateless in what it fetches: every playlist is fetched in full
(metadata with the embedded first page of items, then every `next` page), as a cron script
does; the only thing kept between cycles is a JSON file with last cycle's membership and the
dimension ids already written, so that it can write the same seven tables as spotifyd-etl
(docs/data-contract.md): membership *events*, and dimension rows the first time an id is seen.
Each non-empty table is written as one gzip NDJSON object per cycle with boto3.

    pipeline.py --api-url URL --accounts-url URL --playlists ID,ID,... --state FILE
                --bucket B --prefix P --endpoint URL   (AWS_* credentials from the environment)

Libraries: requests (HTTP), boto3 (S3), the standard library for the transform.
"""
import argparse
import collections
import datetime
import gzip
import io
import json
import os
import sys
import time
import unicodedata

import boto3
import requests
from botocore.config import Config

TABLES = ["playlists", "playlist_items", "tracks", "albums", "artists", "episodes", "rejects"]


def clean(s):
    return unicodedata.normalize("NFC", s).strip() if isinstance(s, str) else s


def pad_date(d, precision):
    if not isinstance(d, str) or not d:
        return None, precision
    parts = d.split("-")
    precision = precision or {1: "year", 2: "month", 3: "day"}.get(len(parts))
    while len(parts) < 3:
        parts.append("01")
    return "-".join(parts[:3]), precision


def norm_ts(s):
    if not s:
        return None
    try:
        t = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
        return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None


class Spotify:
    """Plain `requests` client: client-credentials token, 429 Retry-After honoured, 5xx retried."""

    def __init__(self, api_url, accounts_url, client_id, client_secret):
        self.api, self.accounts = api_url.rstrip("/"), accounts_url.rstrip("/")
        self.auth = (client_id, client_secret)
        self.s = requests.Session()
        self.token = None

    def _token(self):
        r = self.s.post(self.accounts + "/api/token", data={"grant_type": "client_credentials"}, auth=self.auth, timeout=30)
        r.raise_for_status()
        self.token = r.json()["access_token"]

    def get(self, url, params=None):
        if not url.startswith("http"):
            url = self.api + url
        for attempt in range(6):
            if self.token is None:
                self._token()
            r = self.s.get(url, params=params, headers={"Authorization": "Bearer " + self.token}, timeout=30)
            if r.status_code == 401:
                self.token = None
                continue
            if r.status_code == 429:
                time.sleep(float(r.headers.get("Retry-After", "5")))
                continue
            if r.status_code >= 500:
                time.sleep(min(8, 0.5 * 2 ** attempt))
                continue
            r.raise_for_status()
            return r.json()
        raise RuntimeError(f"giving up on {url}")


def parse_entry(e, pid, pos):
    """(member, facts, reject): member = (item_key, type, track_id, episode_id, added_at, added_by)."""
    def reject(reason):
        return None, [], {"source_table": "playlist_items", "reason": reason, "playlist_id": pid, "position": pos,
                          "raw": json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False)}
    if not isinstance(e, dict):
        return reject("malformed_entry")
    item = e.get("item", e.get("track"))
    if item is None:
        return reject("unavailable")
    if not isinstance(item, dict):
        return reject("invalid_item")
    added_at = e.get("added_at")
    if added_at is not None and norm_ts(added_at) is None:
        return reject("invalid_added_at")
    added_by = (e.get("added_by") or {}).get("id")
    if e.get("is_local") or item.get("is_local"):
        uri = item.get("uri")
        if not isinstance(uri, str) or not uri.startswith("spotify:local:"):
            return reject("invalid_local_uri")
        return (uri, "local", None, None, norm_ts(added_at), added_by), [], None
    kind = item.get("type")
    if kind not in ("track", "episode"):
        return reject("unknown_type")
    iid = item.get("id")
    if not isinstance(iid, str) or not iid:
        return reject("missing_id")
    if not isinstance(item.get("name"), str):
        return reject("missing_name")
    dur = item.get("duration_ms")
    if not isinstance(dur, int) or isinstance(dur, bool) or dur < 0:
        return reject("invalid_duration")
    if not isinstance(item.get("explicit"), bool):
        return reject("invalid_explicit")
    facts = []
    if kind == "episode":
        show = item.get("show")
        if not isinstance(show, dict):
            return reject("missing_show")
        if not show.get("id"):
            return reject("missing_show_id")
        rd, _ = pad_date(item.get("release_date"), item.get("release_date_precision"))
        facts.append(("episodes", iid, {"episode_id": iid, "name": clean(item["name"]), "duration_ms": dur,
                                        "explicit": item["explicit"], "show_id": show["id"],
                                        "show_name": clean(show.get("name")), "release_date": rd}))
        return (iid, "episode", None, iid, norm_ts(added_at), added_by), facts, None
    for k in ("track_number", "disc_number"):
        v = item.get(k)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            return reject("invalid_" + k)
    artists, album = item.get("artists"), item.get("album")
    if not isinstance(artists, list):
        return reject("missing_artists")
    if not isinstance(album, dict):
        return reject("missing_album")
    if not album.get("id"):
        return reject("missing_album_id")
    album_artists = album.get("artists") if isinstance(album.get("artists"), list) else []
    for a in artists + album_artists:
        if not isinstance(a, dict) or not a.get("id") or not isinstance(a.get("name"), str):
            return reject("missing_artist_id")
    rd, prec = pad_date(album.get("release_date"), album.get("release_date_precision"))
    if rd is None:
        return reject("invalid_release_date")
    pop = item.get("popularity")
    facts.append(("tracks", iid, {"track_id": iid, "name": clean(item["name"]), "duration_ms": dur,
                                  "explicit": item["explicit"], "disc_number": item["disc_number"],
                                  "track_number": item["track_number"],
                                  "isrc": (item.get("external_ids") or {}).get("isrc"),
                                  "popularity": pop if isinstance(pop, int) else None, "album_id": album["id"],
                                  "artist_ids": [a["id"] for a in artists], "uri": f"spotify:track:{iid}"}))
    facts.append(("albums", album["id"], {"album_id": album["id"], "name": clean(album.get("name")),
                                          "album_type": (album.get("album_type") or "").lower(), "release_date": rd,
                                          "release_date_precision": prec, "release_year": int(rd[:4]),
                                          "total_tracks": album.get("total_tracks"),
                                          "artist_ids": [a["id"] for a in album_artists]}))
    for a in artists + album_artists:
        facts.append(("artists", a["id"], {"artist_id": a["id"], "name": clean(a["name"]), "genres": None,
                                           "followers": None, "popularity": None}))
    return (iid, "track", iid, None, norm_ts(added_at), added_by), facts, None


def diff(pid, snapshot, before, after, now):
    """Events by item_key with multiplicity, as the data contract says (position of the
    occurrence; `removed` carries the last known position)."""
    rows = []
    b, a = collections.defaultdict(list), collections.defaultdict(list)
    for m in before:
        b[m["item_key"]].append(m)
    for m in after:
        a[m["item_key"]].append(m)
    for key in list(a) + [k for k in b if k not in a]:
        old, new = b.get(key, []), a.get(key, [])
        olds = {(m["added_at"], m["added_by"]) for m in old}
        extra = len(new) - len(old)
        if extra > 0:
            pick = sorted(new, key=lambda m: ((m["added_at"], m["added_by"]) in olds, m["position"]))[:extra]
            rows += [dict(m, event="added") for m in pick]
        elif extra < 0:
            news = {(m["added_at"], m["added_by"]) for m in new}
            pick = sorted(old, key=lambda m: ((m["added_at"], m["added_by"]) in news, m["position"]))[:-extra]
            rows += [dict(m, event="removed") for m in pick]
    return [{"playlist_id": pid, "snapshot_id": snapshot, "event": r["event"], "item_key": r["item_key"],
             "item_type": r["item_type"], "track_id": r["track_id"], "episode_id": r["episode_id"],
             "position": r["position"], "added_at": r["added_at"], "added_by": r["added_by"], "observed_at": now}
            for r in rows]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api-url", required=True)
    ap.add_argument("--accounts-url", required=True)
    ap.add_argument("--playlists", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--prefix", default="peer/")
    ap.add_argument("--endpoint")
    a = ap.parse_args()

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    state = {"members": {}, "seen": {t: [] for t in ("tracks", "albums", "artists", "episodes")}, "rejects": [], "cycle": 0}
    if os.path.exists(a.state):
        with open(a.state) as f:
            state = json.load(f)
    seen = {k: set(v) for k, v in state["seen"].items()}
    seen_rejects = set(state["rejects"])
    sp = Spotify(a.api_url, a.accounts_url, os.environ["SPOTIFY_CLIENT_ID"], os.environ["SPOTIFY_CLIENT_SECRET"])
    out = {t: [] for t in TABLES}
    new_artists = []

    for pid in [p for p in a.playlists.split(",") if p]:
        meta = sp.get(f"/playlists/{pid}", params={"additional_types": "track,episode"})
        page = meta.get("items") or {}
        entries = list(page.get("items") or [])
        nxt = page.get("next")
        while nxt:
            page = sp.get(nxt)
            entries += page.get("items") or []
            nxt = page.get("next")
        owner = meta.get("owner") or {}
        snapshots = state.setdefault("snapshots", {})
        if snapshots.get(pid) != meta.get("snapshot_id"):  # one row per observed snapshot
            snapshots[pid] = meta.get("snapshot_id")
            out["playlists"].append({"playlist_id": pid, "snapshot_id": meta.get("snapshot_id"), "name": clean(meta.get("name")),
                                 "description": clean(meta.get("description")) or None, "owner_id": owner.get("id"),
                                     "owner_name": owner.get("display_name"), "public": meta.get("public"),
                                     "collaborative": meta.get("collaborative"),
                                     "followers": (meta.get("followers") or {}).get("total"),
                                     "item_count": (meta.get("items") or {}).get("total"), "observed_at": now})
        members = []
        for pos, e in enumerate(entries):
            m, facts, rej = parse_entry(e, pid, pos)
            if rej:
                h = pid + ":" + rej["raw"]
                if h not in seen_rejects:
                    seen_rejects.add(h)
                    out["rejects"].append(dict(rej, observed_at=now))
                continue
            members.append({"item_key": m[0], "item_type": m[1], "track_id": m[2], "episode_id": m[3],
                            "added_at": m[4], "added_by": m[5], "position": pos})
            for table, fid, row in facts:
                if fid not in seen[table]:
                    seen[table].add(fid)
                    out[table].append(dict(row, observed_at=now))
                    if table == "artists":
                        new_artists.append(fid)
        out["playlist_items"] += diff(pid, meta.get("snapshot_id"), state["members"].get(pid, []), members, now)
        state["members"][pid] = members

    # Enrich new artists (genres, followers, popularity) with /artists?ids=, 50 at a time.
    full = {}
    for i in range(0, len(new_artists), 50):
        for obj in sp.get("/artists", params={"ids": ",".join(new_artists[i:i + 50])}).get("artists") or []:
            if obj:
                full[obj["id"]] = obj
    for row in out["artists"]:
        obj = full.get(row["artist_id"])
        if obj:
            row["genres"] = obj.get("genres")
            row["followers"] = (obj.get("followers") or {}).get("total")
            row["popularity"] = obj.get("popularity")

    s3 = boto3.client("s3", endpoint_url=a.endpoint, region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
    state["cycle"] += 1
    day = now[:10]
    puts = 0
    for t in TABLES:
        if not out[t]:
            continue
        buf = io.BytesIO()
        with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
            for r in out[t]:
                gz.write(json.dumps(r, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
        s3.put_object(Bucket=a.bucket, Key=f"{a.prefix}{t}/dt={day}/{t}-{state['cycle']:06d}.ndjson.gz", Body=buf.getvalue(),
                      ContentEncoding="gzip", ContentType="application/x-ndjson")
        puts += 1
    state["seen"] = {k: sorted(v) for k, v in seen.items()}
    state["rejects"] = sorted(seen_rejects)
    tmp = a.state + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, a.state)
    print(json.dumps({"cycle": state["cycle"], "rows": {t: len(v) for t, v in out.items()}, "puts": puts}))


if __name__ == "__main__":
    sys.exit(main())
