#!/usr/bin/env bash
# Runs the spotifyd-etl daemon in the foreground with the sample config and the local sink.
#
#  - With SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET in the environment it polls the real
#    Spotify Web API (the playlists listed in etc/spotifyd-etl.toml, or SPOTIFYD_PLAYLISTS,
#    a comma-separated list of playlist ids).
#  - Without them it starts the bundled Spotify emulator on loopback and polls that.
# State and output go under ./var/ (override with SPOTIFYD_VAR). Ctrl-C stops it cleanly.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/install-deps.sh
swift build -c release --static-swift-stdlib --product spotifyd-etl >&2
bin="$(swift build -c release --static-swift-stdlib --show-bin-path)/spotifyd-etl"

var="${SPOTIFYD_VAR:-$root/var}"
mkdir -p "$var/out"
cfg="$var/spotifyd-etl.toml"
emu_pid=""
cleanup() { [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null || true; }
trap cleanup EXIT

if [ -n "${SPOTIFY_CLIENT_ID:-}" ] && [ -n "${SPOTIFY_CLIENT_SECRET:-}" ]; then
  api_url="https://api.spotify.com/v1"; accounts_url="https://accounts.spotify.com"
  playlists="${SPOTIFYD_PLAYLISTS:-}"
  interval=""
else
  rm -f "$var/emulator.port"
  python3 scripts/emulator/spotify_emulator.py --port 0 --port-file "$var/emulator.port" \
    --scenario generated --playlists 12 --items 120 --seed 7 >"$var/emulator.log" 2>&1 &
  emu_pid=$!
  for _ in $(seq 100); do [ -s "$var/emulator.port" ] && break; sleep 0.1; done
  port="$(cat "$var/emulator.port")"
  api_url="http://127.0.0.1:$port/v1"; accounts_url="http://127.0.0.1:$port"
  export SPOTIFY_CLIENT_ID=test-client SPOTIFY_CLIENT_SECRET=test-secret
  playlists="$(curl -fsS "http://127.0.0.1:$port/_emulator/truth" | python3 -c \
    'import json,sys; print(",".join(p["id"] for p in json.load(sys.stdin)["playlists"]))')"
  interval="30s"  # the emulator changes often enough to watch
fi

python3 scripts/make-config.py --sample etc/spotifyd-etl.toml --out "$cfg" --var "$var" \
  --api-url "$api_url" --accounts-url "$accounts_url" --playlists "$playlists" ${interval:+--interval "$interval"}
# The unit's Environment= lines (GNUTLS_NO_IMPLICIT_INIT=1), so this runs as the service does.
eval "$(python3 scripts/testsupport/unit_env.py | sed 's/^/export /')"
"$bin" run --config "$cfg"
