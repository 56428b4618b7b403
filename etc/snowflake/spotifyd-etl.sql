-- spotifyd-etl: Snowflake objects for loading the daemon's objects with Snowpipe.
--
-- Template. Placeholders, replaced verbatim (plain text substitution, no escaping):
--   {{bucket}}       S3 bucket the daemon writes to
--   {{prefix}}       key prefix inside the bucket, ending in '/' (e.g. spotifyd-etl/) or empty
--   {{integration}}  name of the storage integration
--   {{database}}     database to create the objects in
--   {{schema}}       schema to create the objects in
-- Render with `scripts/snowflake/render_ddl.py` (the daemon has no subcommand for it).
-- See docs/snowflake.md for the operator's walk-through.
--
-- Re-running is safe: tables, formats, the stage and the pipes use IF NOT EXISTS (a replaced
-- pipe would lose its load history and could load files twice); only views are replaced.
--
-- Objects the daemon writes: <table>/dt=<YYYY-MM-DD>/<table>-<batch_id, 12 digits>.ndjson.gz
-- (or .csv.gz), or <table>/dt=<YYYY-MM-DD>/<table>-<instance id>-<batch_id, 12 digits>.ndjson.gz
-- when the daemon's config sets [instance] id (several instances sharing one bucket and
-- prefix). Every row carries the contract columns followed by batch_id.

-- BEGIN STORAGE INTEGRATION EXAMPLE (run once as ACCOUNTADMIN; needs your AWS role ARN)
-- CREATE STORAGE INTEGRATION IF NOT EXISTS {{integration}}
--   TYPE = EXTERNAL_STAGE
--   STORAGE_PROVIDER = 'S3'
--   ENABLED = TRUE
--   STORAGE_AWS_ROLE_ARN = 'arn:aws:iam::123456789012:role/spotifyd-etl-snowflake'
--   STORAGE_ALLOWED_LOCATIONS = ('s3://{{bucket}}/{{prefix}}');
-- END STORAGE INTEGRATION EXAMPLE
-- Then: DESC INTEGRATION {{integration}}; and put STORAGE_AWS_IAM_USER_ARN and
-- STORAGE_AWS_EXTERNAL_ID into the role's trust policy (docs/snowflake.md).

CREATE DATABASE IF NOT EXISTS {{database}};
CREATE SCHEMA IF NOT EXISTS {{database}}.{{schema}};
USE SCHEMA {{database}}.{{schema}};

-- File formats ---------------------------------------------------------------------------

-- NDJSON: one object per line, keys = contract columns + batch_id. NULL_IF = () so that no
-- string value (not even '\N') is ever turned into NULL: JSON null is the only null.
CREATE FILE FORMAT IF NOT EXISTS spotifyd_etl_ndjson_gz
  TYPE = JSON
  COMPRESSION = GZIP
  STRIP_OUTER_ARRAY = FALSE
  NULL_IF = ()
  COMMENT = 'spotifyd-etl NDJSON objects (*.ndjson.gz)';

-- CSV: RFC 4180, CRLF, one header row, null = empty unquoted field, empty string = "".
-- EMPTY_FIELD_AS_NULL = TRUE makes ,, NULL while ,"", stays an empty string; NULL_IF = ()
-- drops the default '\N' marker; ESCAPE_UNENCLOSED_FIELD = NONE because the encoder never
-- escapes with backslashes (a bare `AC\DC` must load as written).
CREATE FILE FORMAT IF NOT EXISTS spotifyd_etl_csv_gz
  TYPE = CSV
  COMPRESSION = GZIP
  FIELD_DELIMITER = ','
  SKIP_HEADER = 1
  FIELD_OPTIONALLY_ENCLOSED_BY = '"'
  ESCAPE_UNENCLOSED_FIELD = NONE
  EMPTY_FIELD_AS_NULL = TRUE
  NULL_IF = ()
  COMMENT = 'spotifyd-etl CSV objects (*.csv.gz)';

-- Stage ------------------------------------------------------------------------------------

CREATE STAGE IF NOT EXISTS spotifyd_etl_stage
  URL = 's3://{{bucket}}/{{prefix}}'
  STORAGE_INTEGRATION = {{integration}}
  COMMENT = 'spotifyd-etl objects: <table>/dt=<day>/<table>-[<instance id>-]<batch_id>.<ext>';

-- Tables (contract columns in file order, then batch_id) -----------------------------------

CREATE TABLE IF NOT EXISTS playlists (
  playlist_id VARCHAR NOT NULL,
  snapshot_id VARCHAR NOT NULL,
  name VARCHAR NOT NULL,
  description VARCHAR,
  owner_id VARCHAR,
  owner_name VARCHAR,
  public BOOLEAN,
  collaborative BOOLEAN,
  followers NUMBER(38, 0),
  item_count NUMBER(38, 0),
  observed_at TIMESTAMP_TZ NOT NULL,
  batch_id NUMBER(38, 0) NOT NULL
);

CREATE TABLE IF NOT EXISTS playlist_items (
  playlist_id VARCHAR NOT NULL,
  snapshot_id VARCHAR NOT NULL,
  event VARCHAR NOT NULL,
  item_key VARCHAR NOT NULL,
  item_type VARCHAR NOT NULL,
  track_id VARCHAR,
  episode_id VARCHAR,
  position NUMBER(38, 0) NOT NULL,
  added_at TIMESTAMP_TZ,
  added_by VARCHAR,
  observed_at TIMESTAMP_TZ NOT NULL,
  batch_id NUMBER(38, 0) NOT NULL
);

CREATE TABLE IF NOT EXISTS tracks (
  track_id VARCHAR NOT NULL,
  name VARCHAR NOT NULL,
  duration_ms NUMBER(38, 0) NOT NULL,
  explicit BOOLEAN NOT NULL,
  disc_number NUMBER(38, 0) NOT NULL,
  track_number NUMBER(38, 0) NOT NULL,
  isrc VARCHAR,
  popularity NUMBER(38, 0),
  album_id VARCHAR NOT NULL,
  artist_ids ARRAY NOT NULL,
  uri VARCHAR NOT NULL,
  observed_at TIMESTAMP_TZ NOT NULL,
  batch_id NUMBER(38, 0) NOT NULL
);

CREATE TABLE IF NOT EXISTS albums (
  album_id VARCHAR NOT NULL,
  name VARCHAR NOT NULL,
  album_type VARCHAR NOT NULL,
  release_date DATE NOT NULL,
  release_date_precision VARCHAR NOT NULL,
  release_year NUMBER(38, 0) NOT NULL,
  total_tracks NUMBER(38, 0) NOT NULL,
  artist_ids ARRAY NOT NULL,
  observed_at TIMESTAMP_TZ NOT NULL,
  batch_id NUMBER(38, 0) NOT NULL
);

CREATE TABLE IF NOT EXISTS artists (
  artist_id VARCHAR NOT NULL,
  name VARCHAR NOT NULL,
  genres ARRAY,
  followers NUMBER(38, 0),
  popularity NUMBER(38, 0),
  observed_at TIMESTAMP_TZ NOT NULL,
  batch_id NUMBER(38, 0) NOT NULL
);

CREATE TABLE IF NOT EXISTS episodes (
  episode_id VARCHAR NOT NULL,
  name VARCHAR NOT NULL,
  duration_ms NUMBER(38, 0) NOT NULL,
  explicit BOOLEAN NOT NULL,
  show_id VARCHAR NOT NULL,
  show_name VARCHAR NOT NULL,
  release_date DATE,
  observed_at TIMESTAMP_TZ NOT NULL,
  batch_id NUMBER(38, 0) NOT NULL
);

CREATE TABLE IF NOT EXISTS rejects (
  source_table VARCHAR NOT NULL,
  reason VARCHAR NOT NULL,
  playlist_id VARCHAR NOT NULL,
  position NUMBER(38, 0),
  raw VARCHAR NOT NULL,
  observed_at TIMESTAMP_TZ NOT NULL,
  batch_id NUMBER(38, 0) NOT NULL
);

-- One row per finished poll (the daemon's heartbeat), whatever its outcome.
CREATE TABLE IF NOT EXISTS polls (
  playlist_id VARCHAR NOT NULL,
  polled_at TIMESTAMP_TZ NOT NULL,
  snapshot_id VARCHAR,
  outcome VARCHAR NOT NULL,
  items NUMBER(38, 0),
  requests NUMBER(38, 0) NOT NULL,
  duration_ms NUMBER(38, 0) NOT NULL,
  batch_id NUMBER(38, 0) NOT NULL
);

-- Pipes (NDJSON). One per table, each watching its own table prefix. Snowpipe skips a file
-- that fails to load (ON_ERROR = SKIP_FILE) and records why: see docs/snowflake.md.
-- PATTERN takes both object name forms (with and without an instance id, which is 1-32 of
-- a-z, 0-9 and '-') and nothing else under the prefix. `(.*/)?` lets the same pattern match
-- the path Snowpipe sees (relative to the stage) and the full path a manual COPY sees; the
-- pattern is anchored at both ends.
-- If the daemon writes CSV instead, use the commented CSV variants further down.

CREATE PIPE IF NOT EXISTS playlists_pipe AUTO_INGEST = TRUE
  COMMENT = 'spotifyd-etl: playlists NDJSON'
  AS COPY INTO playlists FROM @spotifyd_etl_stage/playlists/
  PATTERN = '^(.*/)?playlists/dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/playlists-([a-z0-9-]{1,32}-)?[0-9]{12}[.]ndjson[.]gz$'
  FILE_FORMAT = (FORMAT_NAME = 'spotifyd_etl_ndjson_gz')
  MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE
  ON_ERROR = SKIP_FILE;

CREATE PIPE IF NOT EXISTS playlist_items_pipe AUTO_INGEST = TRUE
  COMMENT = 'spotifyd-etl: playlist_items NDJSON'
  AS COPY INTO playlist_items FROM @spotifyd_etl_stage/playlist_items/
  PATTERN = '^(.*/)?playlist_items/dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/playlist_items-([a-z0-9-]{1,32}-)?[0-9]{12}[.]ndjson[.]gz$'
  FILE_FORMAT = (FORMAT_NAME = 'spotifyd_etl_ndjson_gz')
  MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE
  ON_ERROR = SKIP_FILE;

CREATE PIPE IF NOT EXISTS tracks_pipe AUTO_INGEST = TRUE
  COMMENT = 'spotifyd-etl: tracks NDJSON'
  AS COPY INTO tracks FROM @spotifyd_etl_stage/tracks/
  PATTERN = '^(.*/)?tracks/dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/tracks-([a-z0-9-]{1,32}-)?[0-9]{12}[.]ndjson[.]gz$'
  FILE_FORMAT = (FORMAT_NAME = 'spotifyd_etl_ndjson_gz')
  MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE
  ON_ERROR = SKIP_FILE;

CREATE PIPE IF NOT EXISTS albums_pipe AUTO_INGEST = TRUE
  COMMENT = 'spotifyd-etl: albums NDJSON'
  AS COPY INTO albums FROM @spotifyd_etl_stage/albums/
  PATTERN = '^(.*/)?albums/dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/albums-([a-z0-9-]{1,32}-)?[0-9]{12}[.]ndjson[.]gz$'
  FILE_FORMAT = (FORMAT_NAME = 'spotifyd_etl_ndjson_gz')
  MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE
  ON_ERROR = SKIP_FILE;

CREATE PIPE IF NOT EXISTS artists_pipe AUTO_INGEST = TRUE
  COMMENT = 'spotifyd-etl: artists NDJSON'
  AS COPY INTO artists FROM @spotifyd_etl_stage/artists/
  PATTERN = '^(.*/)?artists/dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/artists-([a-z0-9-]{1,32}-)?[0-9]{12}[.]ndjson[.]gz$'
  FILE_FORMAT = (FORMAT_NAME = 'spotifyd_etl_ndjson_gz')
  MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE
  ON_ERROR = SKIP_FILE;

CREATE PIPE IF NOT EXISTS episodes_pipe AUTO_INGEST = TRUE
  COMMENT = 'spotifyd-etl: episodes NDJSON'
  AS COPY INTO episodes FROM @spotifyd_etl_stage/episodes/
  PATTERN = '^(.*/)?episodes/dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/episodes-([a-z0-9-]{1,32}-)?[0-9]{12}[.]ndjson[.]gz$'
  FILE_FORMAT = (FORMAT_NAME = 'spotifyd_etl_ndjson_gz')
  MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE
  ON_ERROR = SKIP_FILE;

CREATE PIPE IF NOT EXISTS rejects_pipe AUTO_INGEST = TRUE
  COMMENT = 'spotifyd-etl: rejects NDJSON'
  AS COPY INTO rejects FROM @spotifyd_etl_stage/rejects/
  PATTERN = '^(.*/)?rejects/dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/rejects-([a-z0-9-]{1,32}-)?[0-9]{12}[.]ndjson[.]gz$'
  FILE_FORMAT = (FORMAT_NAME = 'spotifyd_etl_ndjson_gz')
  MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE
  ON_ERROR = SKIP_FILE;

CREATE PIPE IF NOT EXISTS polls_pipe AUTO_INGEST = TRUE
  COMMENT = 'spotifyd-etl: polls NDJSON'
  AS COPY INTO polls FROM @spotifyd_etl_stage/polls/
  PATTERN = '^(.*/)?polls/dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/polls-([a-z0-9-]{1,32}-)?[0-9]{12}[.]ndjson[.]gz$'
  FILE_FORMAT = (FORMAT_NAME = 'spotifyd_etl_ndjson_gz')
  MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE
  ON_ERROR = SKIP_FILE;

-- CSV variant: use instead of the NDJSON pipes when the daemon writes CSV. CSV columns are
-- positional (same order as the tables). Array cells hold JSON text, so they go through
-- PARSE_JSON; everything else converts from text with the file format's rules.
-- BEGIN CSV PIPES
-- CREATE PIPE IF NOT EXISTS playlists_csv_pipe AUTO_INGEST = TRUE
--   AS COPY INTO playlists FROM @spotifyd_etl_stage/playlists/
--   PATTERN = '^(.*/)?playlists/dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/playlists-([a-z0-9-]{1,32}-)?[0-9]{12}[.]csv[.]gz$'
--   FILE_FORMAT = (FORMAT_NAME = 'spotifyd_etl_csv_gz')
--   ON_ERROR = SKIP_FILE;
-- CREATE PIPE IF NOT EXISTS playlist_items_csv_pipe AUTO_INGEST = TRUE
--   AS COPY INTO playlist_items FROM @spotifyd_etl_stage/playlist_items/
--   PATTERN = '^(.*/)?playlist_items/dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/playlist_items-([a-z0-9-]{1,32}-)?[0-9]{12}[.]csv[.]gz$'
--   FILE_FORMAT = (FORMAT_NAME = 'spotifyd_etl_csv_gz')
--   ON_ERROR = SKIP_FILE;
-- CREATE PIPE IF NOT EXISTS tracks_csv_pipe AUTO_INGEST = TRUE
--   AS COPY INTO tracks (track_id, name, duration_ms, explicit, disc_number, track_number, isrc, popularity, album_id, artist_ids, uri, observed_at, batch_id)
--   FROM (SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, PARSE_JSON($10), $11, $12, $13 FROM @spotifyd_etl_stage/tracks/)
--   PATTERN = '^(.*/)?tracks/dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/tracks-([a-z0-9-]{1,32}-)?[0-9]{12}[.]csv[.]gz$'
--   FILE_FORMAT = (FORMAT_NAME = 'spotifyd_etl_csv_gz')
--   ON_ERROR = SKIP_FILE;
-- CREATE PIPE IF NOT EXISTS albums_csv_pipe AUTO_INGEST = TRUE
--   AS COPY INTO albums (album_id, name, album_type, release_date, release_date_precision, release_year, total_tracks, artist_ids, observed_at, batch_id)
--   FROM (SELECT $1, $2, $3, $4, $5, $6, $7, PARSE_JSON($8), $9, $10 FROM @spotifyd_etl_stage/albums/)
--   PATTERN = '^(.*/)?albums/dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/albums-([a-z0-9-]{1,32}-)?[0-9]{12}[.]csv[.]gz$'
--   FILE_FORMAT = (FORMAT_NAME = 'spotifyd_etl_csv_gz')
--   ON_ERROR = SKIP_FILE;
-- CREATE PIPE IF NOT EXISTS artists_csv_pipe AUTO_INGEST = TRUE
--   AS COPY INTO artists (artist_id, name, genres, followers, popularity, observed_at, batch_id)
--   FROM (SELECT $1, $2, PARSE_JSON($3), $4, $5, $6, $7 FROM @spotifyd_etl_stage/artists/)
--   PATTERN = '^(.*/)?artists/dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/artists-([a-z0-9-]{1,32}-)?[0-9]{12}[.]csv[.]gz$'
--   FILE_FORMAT = (FORMAT_NAME = 'spotifyd_etl_csv_gz')
--   ON_ERROR = SKIP_FILE;
-- CREATE PIPE IF NOT EXISTS episodes_csv_pipe AUTO_INGEST = TRUE
--   AS COPY INTO episodes FROM @spotifyd_etl_stage/episodes/
--   PATTERN = '^(.*/)?episodes/dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/episodes-([a-z0-9-]{1,32}-)?[0-9]{12}[.]csv[.]gz$'
--   FILE_FORMAT = (FORMAT_NAME = 'spotifyd_etl_csv_gz')
--   ON_ERROR = SKIP_FILE;
-- CREATE PIPE IF NOT EXISTS rejects_csv_pipe AUTO_INGEST = TRUE
--   AS COPY INTO rejects FROM @spotifyd_etl_stage/rejects/
--   PATTERN = '^(.*/)?rejects/dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/rejects-([a-z0-9-]{1,32}-)?[0-9]{12}[.]csv[.]gz$'
--   FILE_FORMAT = (FORMAT_NAME = 'spotifyd_etl_csv_gz')
--   ON_ERROR = SKIP_FILE;
-- CREATE PIPE IF NOT EXISTS polls_csv_pipe AUTO_INGEST = TRUE
--   AS COPY INTO polls FROM @spotifyd_etl_stage/polls/
--   PATTERN = '^(.*/)?polls/dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/polls-([a-z0-9-]{1,32}-)?[0-9]{12}[.]csv[.]gz$'
--   FILE_FORMAT = (FORMAT_NAME = 'spotifyd_etl_csv_gz')
--   ON_ERROR = SKIP_FILE;
-- END CSV PIPES

-- Views ------------------------------------------------------------------------------------
-- Dimension rows repeat when enrichment fills fields later; the *_latest views keep the
-- newest row per id (ties on observed_at go to the later batch).

CREATE OR REPLACE VIEW playlists_latest AS
SELECT * FROM playlists
QUALIFY ROW_NUMBER() OVER (PARTITION BY playlist_id ORDER BY observed_at DESC, batch_id DESC) = 1;

CREATE OR REPLACE VIEW tracks_latest AS
SELECT * FROM tracks
QUALIFY ROW_NUMBER() OVER (PARTITION BY track_id ORDER BY observed_at DESC, batch_id DESC) = 1;

CREATE OR REPLACE VIEW albums_latest AS
SELECT * FROM albums
QUALIFY ROW_NUMBER() OVER (PARTITION BY album_id ORDER BY observed_at DESC, batch_id DESC) = 1;

CREATE OR REPLACE VIEW artists_latest AS
SELECT * FROM artists
QUALIFY ROW_NUMBER() OVER (PARTITION BY artist_id ORDER BY observed_at DESC, batch_id DESC) = 1;

CREATE OR REPLACE VIEW episodes_latest AS
SELECT * FROM episodes
QUALIFY ROW_NUMBER() OVER (PARTITION BY episode_id ORDER BY observed_at DESC, batch_id DESC) = 1;

-- Current membership: per (playlist, item_key), 'added' events minus 'removed' events; the
-- entry is present while that is positive. Attributes come from its latest 'added' event.
CREATE OR REPLACE VIEW playlist_items_current AS
WITH net AS (
  SELECT playlist_id, item_key,
         SUM(CASE WHEN event = 'added' THEN 1 WHEN event = 'removed' THEN -1 ELSE 0 END) AS net_count
  FROM playlist_items
  GROUP BY playlist_id, item_key
), last_added AS (
  SELECT * FROM playlist_items
  WHERE event = 'added'
  QUALIFY ROW_NUMBER() OVER (PARTITION BY playlist_id, item_key ORDER BY observed_at DESC, batch_id DESC) = 1
)
SELECT a.playlist_id, a.item_key, a.item_type, a.track_id, a.episode_id, a.position,
       a.added_at, a.added_by, a.observed_at, a.batch_id
FROM last_added AS a
JOIN net AS n ON n.playlist_id = a.playlist_id AND n.item_key = a.item_key
WHERE n.net_count > 0;

-- One row per (track, artist) of the latest track rows; artist_position is 0-based.
CREATE OR REPLACE VIEW track_artists AS
SELECT t.track_id, f.value::VARCHAR AS artist_id, f.index AS artist_position
FROM tracks_latest AS t, LATERAL FLATTEN(INPUT => t.artist_ids) AS f;

-- Tracks added per playlist per UTC day (added_at when Spotify gave it, else when observed).
-- Counts item_type = 'track' only; episodes and local files are not tracks here.
CREATE OR REPLACE VIEW tracks_added_daily AS
SELECT playlist_id,
       TO_DATE(COALESCE(added_at, observed_at)) AS added_day,
       COUNT(*) AS tracks_added
FROM playlist_items
WHERE event = 'added' AND item_type = 'track'
GROUP BY playlist_id, TO_DATE(COALESCE(added_at, observed_at));

-- Playlist churn: adds and removes of any item type per playlist per UTC day of observation.
CREATE OR REPLACE VIEW playlist_churn_daily AS
SELECT playlist_id,
       TO_DATE(observed_at) AS observed_day,
       SUM(CASE WHEN event = 'added' THEN 1 ELSE 0 END) AS adds,
       SUM(CASE WHEN event = 'removed' THEN 1 ELSE 0 END) AS removes,
       COUNT(*) AS churn
FROM playlist_items
GROUP BY playlist_id, TO_DATE(observed_at);

-- Artists ranked by how many playlists currently contain at least one of their tracks.
-- playlist_entries counts every present entry (duplicates in one playlist count twice).
CREATE OR REPLACE VIEW top_artists_by_playlist_presence AS
SELECT ta.artist_id,
       ar.name AS artist_name,
       COUNT(DISTINCT c.playlist_id) AS playlists,
       COUNT(*) AS playlist_entries
FROM playlist_items_current AS c
JOIN track_artists AS ta ON ta.track_id = c.track_id
LEFT JOIN artists_latest AS ar ON ar.artist_id = ta.artist_id
WHERE c.item_type = 'track'
GROUP BY ta.artist_id, ar.name;

-- Release years of the tracks currently present in any playlist.
CREATE OR REPLACE VIEW release_year_distribution AS
SELECT al.release_year,
       COUNT(*) AS playlist_entries,
       COUNT(DISTINCT c.track_id) AS distinct_tracks
FROM playlist_items_current AS c
JOIN tracks_latest AS t ON t.track_id = c.track_id
JOIN albums_latest AS al ON al.album_id = t.album_id
WHERE c.item_type = 'track'
GROUP BY al.release_year;

-- Freshness per playlist, from the poll heartbeats (`polls`):
--   last_polled_at     the latest finished poll, whatever its outcome (the daemon is alive);
--   last_confirmed_at  the latest poll that found the warehouse up to date with Spotify
--                      (outcome unchanged, changed or renamed); NULL if none yet;
--   last_changed_at    the latest poll that committed a new snapshot (changed or renamed).
-- "Nobody edited it" shows as a recent last_confirmed_at with an old last_changed_at; "the
-- daemon is dead" as an old last_polled_at.
CREATE OR REPLACE VIEW playlist_freshness AS
SELECT playlist_id,
       MAX(polled_at) AS last_polled_at,
       MAX(CASE WHEN outcome IN ('unchanged', 'changed', 'renamed') THEN polled_at END) AS last_confirmed_at,
       MAX(CASE WHEN outcome IN ('changed', 'renamed') THEN polled_at END) AS last_changed_at
FROM polls
GROUP BY playlist_id;
