#!/usr/bin/env python3
"""The pipeline the project's seed describes, as the headline peer of the side-by-side
benchmark (scripts/bench): spotipy for extraction, pandas for the transform, boto3 to S3.
Not part of the product.

It writes the same seven tables, with the same rows and columns, as bench/python-peer/pipeline.py
(and so as spotifyd-etl, docs/data-contract.md); only the libraries differ. One invocation =
one cycle; every playlist is fetched in full every cycle, as a cron script does; a JSON state
file keeps last cycle's membership, the dimension ids already written, the rejects already
written and the last snapshot per playlist.

    pipeline.py --api-url URL --accounts-url URL --playlists ID,ID,... --state FILE
                --bucket B --prefix P --endpoint URL
    (SPOTIFY_CLIENT_ID / SPOTIFY_CLIENT_SECRET and AWS_* credentials from the environment)

Extraction (spotipy 2.26):
- Auth: `SpotifyClientCredentials` with its token URL pointed at the emulator's accounts
  service (the class reads `self.OAUTH_TOKEN_URL`, so an instance attribute overrides the
  hardcoded https://accounts.spotify.com/api/token) and an in-memory token cache (the default
  cache is a `.cache` file in the working directory).
- API base: `Spotify.prefix` (hardcoded https://api.spotify.com/v1/) is set to the emulator's
  /v1/ URL; paging `next` links are absolute and used as they are.
- Paging: `sp.playlist(id, additional_types=("track", "episode"))` returns the metadata with the
  first page of entries embedded (100), then `sp.next(page)` follows the `next` links (limit 50,
  /playlists/{id}/items, which is what spotipy 2.26's `playlist_items` calls too). That is the
  same request sequence as the python-peer, so request counts compare like for like; calling
  `playlist_items(limit=50)` from offset 0 after `playlist()` would refetch the embedded page.
- Entries carry the item under `item` (2026 API); `track`, the deprecated alias, is read when
  `item` is absent.
- Artist enrichment: `sp.artists(ids)`, 50 ids a call. Retries: spotipy's urllib3 Retry
  (429 with Retry-After, 5xx).

Transform (pandas), one playlist at a time as the python-peer does (a playlist's raw entries
are dropped once its narrow output frames are built): its entries become one DataFrame
(`json_normalize` of the items); each entry's first failing check (the python-peer's order) is
picked with `numpy.select`; members, dimension tables and rejects are column selections with
`drop_duplicates` and `isin` against the ids already written; after the last playlist, the
frames are concatenated and membership events come from per-key counts and a merge against last
cycle's membership (`groupby`/`merge`/`cumcount`), with the python-peer's multiplicity rules.

Load: each non-empty table is `DataFrame.to_json(lines=True)` gzip NDJSON, one object per table
per cycle, `put_object` with boto3.
"""
import argparse
import collections
import datetime
import io
import json
import os
import sys
import unicodedata

import boto3
import numpy as np
import pandas as pd
import spotipy
from botocore.config import Config
from spotipy.cache_handler import MemoryCacheHandler
from spotipy.oauth2 import SpotifyClientCredentials

TABLES = ["playlists", "playlist_items", "tracks", "albums", "artists", "episodes", "rejects"]
MEMBER_COLS = ["playlist_id", "item_key", "item_type", "track_id", "episode_id", "added_at", "added_by", "position"]


class ClientCredentials(SpotifyClientCredentials):
    """Client-credentials flow against a given token endpoint."""

    def __init__(self, token_url, **kw):
        super().__init__(**kw)
        self.OAUTH_TOKEN_URL = token_url


def spotify(api_url, accounts_url):
    auth = ClientCredentials(accounts_url.rstrip("/") + "/api/token", client_id=os.environ["SPOTIFY_CLIENT_ID"],
                             client_secret=os.environ["SPOTIFY_CLIENT_SECRET"], cache_handler=MemoryCacheHandler(),
                             requests_timeout=30)
    sp = spotipy.Spotify(auth_manager=auth, requests_timeout=30, retries=6, status_retries=6, backoff_factor=0.5)
    sp.prefix = api_url.rstrip("/") + "/"
    return sp


def fetch(sp, pid):
    meta = sp.playlist(pid, additional_types=("track", "episode"))
    page = meta.get("items") or {}
    entries = list(page.get("items") or [])
    while page.get("next"):
        page = sp.next(page)
        entries += page.get("items") or []
    return meta, entries


def col(df, name):
    """A column of the normalized frame, or all-missing when no entry had that field."""
    return df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index, dtype=object)


def nullable(s):
    """Missing values as None (object dtype), so that rows serialize as the python-peer's."""
    s = s.astype(object)
    return s.where(s.notna(), None)


def clean(s):
    return s.map(lambda v: unicodedata.normalize("NFC", v).strip() if isinstance(v, str) else v)


def ints(s):
    """Integers that may be missing (nullable Int64: no float conversion, missing as null)."""
    return nullable(s).astype("Int64")


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def pad_date(d, precision):
    if not isinstance(d, str) or not d:
        return None, precision
    parts = d.split("-")
    precision = precision or {1: "year", 2: "month", 3: "day"}.get(len(parts))
    while len(parts) < 3:
        parts.append("01")
    return "-".join(parts[:3]), precision


def utc_text(s):
    t = pd.to_datetime(s, utc=True, errors="coerce", format="ISO8601")
    return t.dt.strftime("%Y-%m-%dT%H:%M:%SZ").astype(object).where(t.notna(), None)


def transform(raw, now):
    """(members, {table: DataFrame}) from a frame of one playlist's playlist_id, position, entry.
    Dimension and reject rows are all the playlist's, deduplicated within it; the caller drops
    the ones already written."""
    entry = raw["entry"]
    is_dict = entry.map(lambda e: isinstance(e, dict))
    item = entry.map(lambda e: e.get("item", e.get("track")) if isinstance(e, dict) else None)
    item_dict = item.map(lambda i: isinstance(i, dict))
    f = pd.json_normalize([i if isinstance(i, dict) else {} for i in item]).set_index(raw.index)
    added_at = entry.map(lambda e: e.get("added_at") if isinstance(e, dict) else None)
    added_at_utc = utc_text(added_at)
    local = entry.map(lambda e: isinstance(e, dict) and bool(e.get("is_local"))) | item.map(
        lambda i: isinstance(i, dict) and bool(i.get("is_local")))
    uri, kind, iid = col(f, "uri"), col(f, "type"), col(f, "id")

    def get(name):
        """The field as parsed (Python types, for the type checks): the normalized frame's
        columns, like `map` results, are inferred numpy dtypes (int64, bool, float64 with NaN)."""
        return pd.Series([i.get(name) if isinstance(i, dict) else None for i in item], index=item.index, dtype=object)
    album = item.map(lambda i: i.get("album") if isinstance(i, dict) else None)
    artists = item.map(lambda i: i.get("artists") if isinstance(i, dict) else None)
    album_artists = album.map(lambda a: a.get("artists") if isinstance(a, dict) and isinstance(a.get("artists"), list) else [])
    all_artists = artists.map(lambda a: a if isinstance(a, list) else []) + album_artists
    show = item.map(lambda i: i.get("show") if isinstance(i, dict) else None)
    dates = [pad_date(a.get("release_date"), a.get("release_date_precision")) if isinstance(a, dict) else (None, None)
             for a in album]
    album_rd = pd.Series([d[0] for d in dates], index=raw.index, dtype=object)
    album_prec = pd.Series([d[1] for d in dates], index=raw.index, dtype=object)
    track, episode = kind.eq("track"), kind.eq("episode")

    # The first failing check names the reject, in the python-peer's order.
    checks = [
        (~is_dict, "malformed_entry"),
        (item.isna(), "unavailable"),
        (~item_dict, "invalid_item"),
        (added_at.notna() & added_at_utc.isna(), "invalid_added_at"),
        (local & ~uri.map(lambda u: isinstance(u, str) and u.startswith("spotify:local:")), "invalid_local_uri"),
        (local, "ok_local"),
        (~(track | episode), "unknown_type"),
        (~get("id").map(lambda v: isinstance(v, str) and bool(v)), "missing_id"),
        (~get("name").map(lambda v: isinstance(v, str)), "missing_name"),
        (~get("duration_ms").map(lambda v: is_int(v) and v >= 0), "invalid_duration"),
        (~get("explicit").map(lambda v: isinstance(v, bool)), "invalid_explicit"),
        (episode & ~show.map(lambda s: isinstance(s, dict)), "missing_show"),
        (episode & ~show.map(lambda s: isinstance(s, dict) and bool(s.get("id"))), "missing_show_id"),
        (episode, "ok_episode"),
        (~get("track_number").map(lambda v: is_int(v) and v >= 0), "invalid_track_number"),
        (~get("disc_number").map(lambda v: is_int(v) and v >= 0), "invalid_disc_number"),
        (~artists.map(lambda a: isinstance(a, list)), "missing_artists"),
        (~album.map(lambda a: isinstance(a, dict)), "missing_album"),
        (~album.map(lambda a: isinstance(a, dict) and bool(a.get("id"))), "missing_album_id"),
        (~all_artists.map(lambda lst: all(isinstance(a, dict) and a.get("id") and isinstance(a.get("name"), str)
                                          for a in lst)), "missing_artist_id"),
        (album_rd.isna(), "invalid_release_date"),
    ]
    verdict = pd.Series(np.select([c.to_numpy(dtype=bool) for c, _ in checks], [r for _, r in checks], "ok_track"),
                        index=raw.index)
    ok = verdict.str.startswith("ok_")

    # Rejects: once per (playlist, raw entry) ever.
    rj = raw.loc[~ok, ["playlist_id", "position"]].assign(reason=verdict[~ok])
    rj["raw"] = pd.Series([json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False) for e in entry[~ok]],
                          index=rj.index, dtype=object)
    rj = rj.drop_duplicates("raw")
    rejects = pd.DataFrame({"source_table": "playlist_items", "reason": rj["reason"], "playlist_id": rj["playlist_id"],
                            "position": rj["position"], "raw": rj["raw"], "observed_at": now})

    # Members.
    is_loc, is_ep, is_tr = verdict.eq("ok_local"), verdict.eq("ok_episode"), verdict.eq("ok_track")
    members = pd.DataFrame({
        "playlist_id": raw["playlist_id"],
        "item_key": nullable(iid).where(~is_loc, uri),
        "item_type": verdict.str.removeprefix("ok_"),
        "track_id": nullable(iid).where(is_tr, None),
        "episode_id": nullable(iid).where(is_ep, None),
        "added_at": added_at_utc,
        "added_by": entry.map(lambda e: (e.get("added_by") or {}).get("id") if isinstance(e, dict) else None),
        "position": raw["position"],
    })[ok]

    t = f[is_tr]
    tracks = pd.DataFrame({
        "track_id": col(t, "id"), "name": clean(col(t, "name")), "duration_ms": ints(col(t, "duration_ms")),
        "explicit": col(t, "explicit"), "disc_number": ints(col(t, "disc_number")),
        "track_number": ints(col(t, "track_number")), "isrc": nullable(col(t, "external_ids.isrc")),
        "popularity": ints(get("popularity")[is_tr].map(lambda v: v if is_int(v) else None)),
        "album_id": col(t, "album.id"), "artist_ids": artists[is_tr].map(lambda lst: [a["id"] for a in lst]),
        "uri": "spotify:track:" + col(t, "id")}).drop_duplicates("track_id")
    albums = pd.DataFrame({
        "album_id": col(t, "album.id"), "name": nullable(clean(col(t, "album.name"))),
        "album_type": col(t, "album.album_type").map(lambda v: (v or "").lower()),
        "release_date": album_rd[is_tr], "release_date_precision": album_prec[is_tr],
        "release_year": album_rd[is_tr].map(lambda d: int(d[:4])),
        "total_tracks": ints(col(t, "album.total_tracks")),
        "artist_ids": album_artists[is_tr].map(lambda lst: [a["id"] for a in lst])}).drop_duplicates("album_id")
    a = all_artists[is_tr].explode().dropna()
    artists_df = pd.DataFrame({"artist_id": a.map(lambda x: x["id"]), "name": clean(a.map(lambda x: x["name"])),
                               "genres": None, "followers": None, "popularity": None}).drop_duplicates("artist_id")
    e = f[is_ep]
    episodes = pd.DataFrame({
        "episode_id": col(e, "id"), "name": clean(col(e, "name")), "duration_ms": ints(col(e, "duration_ms")),
        "explicit": col(e, "explicit"), "show_id": col(e, "show.id"), "show_name": nullable(clean(col(e, "show.name"))),
        "release_date": [pad_date(d, p)[0] for d, p in zip(col(e, "release_date"), col(e, "release_date_precision"))]},
        index=e.index).drop_duplicates("episode_id")
    return members, dict(tracks=tracks, albums=albums, artists=artists_df, episodes=episodes, rejects=rejects)


def diff(before, after, snapshots, now):
    """Membership events by (playlist, item_key) with multiplicity: when a key has more
    occurrences than last cycle, the extra ones are `added`, preferring occurrences whose
    (added_at, added_by) was not there before, then the lowest position; fewer occurrences are
    `removed` the same way, with their last known position."""
    key = ["playlist_id", "item_key"]
    pair = key + ["added_at", "added_by"]
    extra = after.groupby(key).size().sub(before.groupby(key).size(), fill_value=0).rename("n").reset_index()

    def pick(side, other, n, event):
        c = side.merge(n, on=key)
        c = c.merge(other[pair].drop_duplicates().assign(known=True), on=pair, how="left")
        c["known"] = c["known"].fillna(False).astype(bool)
        c = c.sort_values(key + ["known", "position"], kind="stable")
        return c[c.groupby(key).cumcount() < c["n"]].assign(event=event)

    added = pick(after, before, extra[extra["n"] > 0], "added")
    removed = pick(before, after, extra[extra["n"] < 0].assign(n=lambda d: -d["n"]), "removed")
    ev = pd.concat([added, removed], ignore_index=True)
    return pd.DataFrame({"playlist_id": ev["playlist_id"], "snapshot_id": ev["playlist_id"].map(snapshots),
                         "event": ev["event"], "item_key": ev["item_key"], "item_type": ev["item_type"],
                         "track_id": ev["track_id"], "episode_id": ev["episode_id"],
                         "position": ev["position"].astype(int), "added_at": ev["added_at"],
                         "added_by": ev["added_by"], "observed_at": now})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api-url", required=True)
    ap.add_argument("--accounts-url", required=True)
    ap.add_argument("--playlists", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--prefix", default="seed/")
    ap.add_argument("--endpoint")
    a = ap.parse_args()

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    state = {"members": [], "seen": {t: [] for t in ("tracks", "albums", "artists", "episodes")}, "rejects": [],
             "snapshots": {}, "cycle": 0}
    if os.path.exists(a.state):
        with open(a.state) as f:
            state = json.load(f)
    sp = spotify(a.api_url, a.accounts_url)
    pids = [p for p in a.playlists.split(",") if p]

    # One playlist's entries in memory at a time: each is transformed to the narrow output
    # frames before the next is fetched; dimensions first seen in two playlists of the same
    # cycle are deduplicated after the loop.
    metas, parts = [], collections.defaultdict(list)
    for pid in pids:
        meta, entries = fetch(sp, pid)
        metas.append(meta)
        raw = pd.DataFrame([(pid, pos, e) for pos, e in enumerate(entries)], columns=["playlist_id", "position", "entry"])
        members, tables = transform(raw, now)
        parts["members"].append(members)
        for t, df in tables.items():
            parts[t].append(df)
        del raw, entries
    members = pd.concat(parts.pop("members"), ignore_index=True)
    tables = {t: pd.concat(dfs, ignore_index=True) for t, dfs in parts.items()}
    for t in ("tracks", "albums", "artists", "episodes"):
        key = t[:-1] + "_id"
        df = tables[t].drop_duplicates(key)
        tables[t] = df[~df[key].isin(state["seen"][t])].assign(observed_at=now)
    rj = tables["rejects"]
    tables["rejects"] = rj[~(rj["playlist_id"] + ":" + rj["raw"]).isin(state["rejects"])]

    pl = pd.json_normalize(metas)
    pl = pd.DataFrame({"playlist_id": pids, "snapshot_id": nullable(col(pl, "snapshot_id")),
                       "name": nullable(clean(col(pl, "name"))),
                       "description": nullable(clean(col(pl, "description")).replace("", None)),
                       "owner_id": nullable(col(pl, "owner.id")), "owner_name": nullable(col(pl, "owner.display_name")),
                       "public": nullable(col(pl, "public")), "collaborative": nullable(col(pl, "collaborative")),
                       "followers": ints(col(pl, "followers.total")), "item_count": ints(col(pl, "items.total")),
                       "observed_at": now})
    moved = pl["snapshot_id"].ne(pl["playlist_id"].map(state["snapshots"]))  # one row per observed snapshot
    out = {"playlists": pl[moved]}

    before = pd.DataFrame(state["members"], columns=MEMBER_COLS)
    before = before[before["playlist_id"].isin(pids)]
    out["playlist_items"] = diff(before, members, dict(zip(pl["playlist_id"], pl["snapshot_id"])), now)
    out.update(tables)

    # Enrich new artists (genres, followers, popularity) with /artists?ids=, 50 at a time.
    new_ids = out["artists"]["artist_id"].tolist()
    full = [o for i in range(0, len(new_ids), 50) for o in sp.artists(new_ids[i:i + 50]).get("artists") or [] if o]
    if full:
        fa = pd.json_normalize(full)
        fa = pd.DataFrame({"artist_id": fa["id"], "genres": col(fa, "genres"), "followers": ints(col(fa, "followers.total")),
                           "popularity": ints(col(fa, "popularity"))}).drop_duplicates("artist_id")
        out["artists"] = out["artists"].drop(columns=["genres", "followers", "popularity"]).merge(
            fa, on="artist_id", how="left")[["artist_id", "name", "genres", "followers", "popularity", "observed_at"]]

    s3 = boto3.client("s3", endpoint_url=a.endpoint, region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
    state["cycle"] += 1
    day = now[:10]
    puts = 0
    for t in TABLES:
        df = out[t]
        if df.empty:
            continue
        buf = io.BytesIO()
        df.to_json(buf, orient="records", lines=True, force_ascii=False, compression={"method": "gzip", "mtime": 0})
        s3.put_object(Bucket=a.bucket, Key=f"{a.prefix}{t}/dt={day}/{t}-{state['cycle']:06d}.ndjson.gz", Body=buf.getvalue(),
                      ContentEncoding="gzip", ContentType="application/x-ndjson")
        puts += 1

    for t in ("tracks", "albums", "artists", "episodes"):
        id_col = t[:-1] + "_id"
        state["seen"][t] = sorted(set(state["seen"][t]) | set(out[t][id_col]))
    rj = out["rejects"]
    state["rejects"] = sorted(set(state["rejects"]) | set(rj["playlist_id"] + ":" + rj["raw"]))
    state["snapshots"].update(zip(pl["playlist_id"], pl["snapshot_id"]))
    kept = pd.DataFrame(state["members"], columns=MEMBER_COLS)
    kept = kept[~kept["playlist_id"].isin(pids)]
    state["members"] = pd.concat([kept, members], ignore_index=True).pipe(
        lambda d: d.astype(object).where(d.notna(), None)).to_dict("records")
    tmp = a.state + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, a.state)
    print(json.dumps({"cycle": state["cycle"], "rows": {t: len(v) for t, v in out.items()}, "puts": puts}))


if __name__ == "__main__":
    sys.exit(main())
