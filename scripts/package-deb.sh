#!/usr/bin/env bash
# Builds the Debian package dist/spotifyd-etl_<version>_<arch>.deb: a release binary with the
# Swift runtime linked statically, so the target machine needs no Swift toolchain.
#
#   scripts/package-deb.sh [--no-lintian] [--skip-build | --build-only]
#
#   --no-lintian   do not run lintian on the result (by default it runs when installed, prints
#                  every tag and fails on an error tag)
#   --skip-build   reuse the binary already in .build-deb (and the manual pages made from it)
#   --build-only   build the binary and the manual pages, then stop (CI builds them in the
#                  background while other tests run, then packages with --skip-build)
#
# Contents (packaging/README.md says why for each):
#   /usr/bin/spotifyd-etl                         stripped, -static-stdlib
#   /lib/systemd/system/spotifyd-etl.service      systemd/spotifyd-etl.service, Exec*= -> /usr/bin
#   /usr/lib/sysusers.d/spotifyd-etl.conf         systemd/spotifyd-etl.sysusers (user + group)
#   /etc/spotifyd-etl/spotifyd-etl.toml           etc/spotifyd-etl.toml, a conffile
#   /usr/share/man/man1/spotifyd-etl*.1.gz        swift-argument-parser's generate-manual plugin
#   /usr/share/man/man5/spotifyd-etl.toml.5.gz    packaging/md2man.py from docs/configuration.md
#   bash, zsh, fish completions                   spotifyd-etl --generate-completion-script
#   /usr/share/doc/spotifyd-etl/                  README, docs/, the Snowflake DDL, copyright
# Depends: dpkg-shlibdeps on the binary (libc6, libcurl4, libsqlite3-0, libsystemd0, zlib1g),
# plus ca-certificates (libcurl's CA bundle), systemd-sysusers and deb-systemd-helper.
#
# The release build uses its own scratch path (.build-deb), so it never waits on or disturbs
# the shared .build. Needs: swift, dpkg-dev (dpkg-shlibdeps), binutils (strip, objdump), gzip,
# python3; lintian optional.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
run_lintian=1; build=1; build_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-lintian) run_lintian=0; shift ;;
    --skip-build) build=0; shift ;;
    --build-only) build_only=1; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package-deb.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done

pkg=spotifyd-etl
version="$(sed -n 's/.*static let string = "\([^"]*\)".*/\1/p' Sources/ETLCore/Version.swift)"
[ -n "$version" ] || { echo "package-deb.sh: no version in Sources/ETLCore/Version.swift" >&2; exit 1; }
arch="$(dpkg --print-architecture)"
scratch="$root/.build-deb"
# --disable-local-rpath: no RUNPATH $ORIGIN (nothing is looked up next to /usr/bin).
# -z now (with the default -z relro): a read-only GOT, what Debian's hardening=+bindnow gives.
swift_flags=(-c release -Xswiftc -static-stdlib --disable-local-rpath -Xlinker -z -Xlinker now
  --scratch-path "$scratch")
# Reproducible dates (man pages, changelog, file mtimes): the last commit's, else now.
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}"
export SOURCE_DATE_EPOCH
date_ymd="$(date -u -d "@$SOURCE_DATE_EPOCH" +%F)"
maintainer="${DEBFULLNAME:-spotifyd-etl maintainers} <${DEBEMAIL:-spotifyd-etl@users.noreply.github.com}>"
t0=$SECONDS

# ------------------------------------------------------------------ binary and manual pages
if [ "$build" = 1 ]; then
  echo "== swift build ${swift_flags[*]} --product $pkg" >&2
  swift build "${swift_flags[@]}" --product "$pkg" >&2
fi
bin="$(swift build "${swift_flags[@]}" --show-bin-path)/$pkg"
[ -x "$bin" ] || { echo "package-deb.sh: no binary at $bin (drop --skip-build)" >&2; exit 1; }
if ldd "$bin" | grep -q libswift; then
  echo "package-deb.sh: $bin links libswift*.so; it must be built with -static-stdlib" >&2; exit 1
fi

# swift-argument-parser's generate-manual command plugin: it builds the package's products in
# release mode with the same flags and scratch path (so only what `--product` skipped is
# compiled: the benchmarks), runs `generate-manual` on every executable that uses
# ArgumentParser and writes the pages to its work directory, .build-deb/plugins/GenerateManual/.
# (In 1.8.2 the plugin chooses the output directory; --output-directory is not accepted.)
man_out="$scratch/plugins/GenerateManual/outputs/$pkg"
if [ "$build" = 1 ] || ! ls "$man_out"/*.1 >/dev/null 2>&1; then
  echo "== swift package generate-manual --multi-page" >&2
  rm -rf "$man_out"
  swift package "${swift_flags[@]}" generate-manual --multi-page --date "$date_ymd" >&2
fi
[ -f "$man_out/$pkg.1" ] || man_out="$(dirname "$(find "$scratch/plugins" -name "$pkg.1" -print -quit)")"
[ -f "$man_out/$pkg.1" ] || { echo "package-deb.sh: the generate-manual plugin wrote no $pkg.1" >&2; exit 1; }
if [ "$build_only" = 1 ]; then
  echo "== built $bin and the manual pages in $((SECONDS - t0)) s (--build-only: no package)" >&2
  exit 0
fi

# ------------------------------------------------------------------ the package tree
# A private staging directory, so two runs at once (CI and a developer) never share one.
stage="$(mktemp -d "$scratch/deb-stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
tree="$stage/$pkg"
mkdir -p "$tree/DEBIAN"
d() { install -d -m 0755 "$tree$1"; }
f() { install -D -m "${3:-0644}" "$1" "$tree$2"; }   # f SRC DEST [MODE]

# Binary: stripped like dh_strip does (debug info and symbols; the Swift metadata sections
# are allocated sections and stay).
d /usr/bin
strip --remove-section=.comment --remove-section=.note --strip-unneeded -o "$tree/usr/bin/$pkg" "$bin"
chmod 0755 "$tree/usr/bin/$pkg"
if objdump -p "$tree/usr/bin/$pkg" | grep -qE 'R(UN)?PATH'; then
  echo "package-deb.sh: the binary has an RPATH/RUNPATH: $(objdump -p "$tree/usr/bin/$pkg" | grep -E 'R(UN)?PATH')" >&2
  exit 1
fi

# Unit: every Exec*= path to /usr/bin (the repository's unit names /usr/local/bin, where
# scripts/install.sh puts a source build).
d /lib/systemd/system
# The package ships the manual pages, so its unit points at them (Documentation=).
sed -e "s|^\(Exec[A-Za-z]*=\)/usr/local/bin/$pkg |\1/usr/bin/$pkg |" \
  -e "s|^# Install with scripts/install.sh\.|# Installed by the spotifyd-etl Debian package.|" \
  -e "/^Description=/a Documentation=man:$pkg(1) man:$pkg.toml(5)" \
  systemd/spotifyd-etl.service >"$tree/lib/systemd/system/$pkg.service"
chmod 0644 "$tree/lib/systemd/system/$pkg.service"
if grep -q '/usr/local/' "$tree/lib/systemd/system/$pkg.service"; then
  echo "package-deb.sh: the packaged unit still names /usr/local" >&2; exit 1
fi
f systemd/spotifyd-etl.sysusers "/usr/lib/sysusers.d/$pkg.conf"

# Config: a conffile (DEBIAN/conffiles); the credentials directory is made by postinst.
f etc/spotifyd-etl.toml "/etc/$pkg/$pkg.toml"

# Manual pages, compressed as Debian policy wants (gzip -9n: no name, no timestamp).
# packaging/manpages.py renames the plugin's spotifyd-etl.SUB.1 to spotifyd-etl-SUB.1 (git's
# convention; a NAME with a space is no whatis entry) and drops the page of `help`.
d /usr/share/man/man1
python3 packaging/manpages.py "$man_out" "$stage/man1" >/dev/null
for page in "$stage/man1"/*.1; do
  gzip -9n -c "$page" >"$tree/usr/share/man/man1/$(basename "$page").gz"
done
d /usr/share/man/man5
python3 packaging/md2man.py docs/configuration.md --version "$version" --date "$date_ymd" \
  | gzip -9n >"$tree/usr/share/man/man5/$pkg.toml.5.gz"

# Shell completions, from the binary.
d /usr/share/bash-completion/completions
# (bash-completion sources the file: no #! line, lintian's bash-completion-with-hashbang.)
"$bin" --generate-completion-script bash | sed '1{/^#!/d}' >"$tree/usr/share/bash-completion/completions/$pkg"
d /usr/share/zsh/vendor-completions
"$bin" --generate-completion-script zsh >"$tree/usr/share/zsh/vendor-completions/_$pkg"
d /usr/share/fish/vendor_completions.d
"$bin" --generate-completion-script fish >"$tree/usr/share/fish/vendor_completions.d/$pkg.fish"

# Documentation. Markdown over 4 KiB is gzipped (policy 12.3); the Snowflake DDL stays plain
# so it can be fed to snowsql -f / the Snowflake worksheet as it is.
doc="/usr/share/doc/$pkg"
d "$doc/docs"
gzip -9n -c README.md >"$tree$doc/README.md.gz"
for md in docs/*.md; do
  if [ "$(stat -c %s "$md")" -gt 4096 ]; then
    gzip -9n -c "$md" >"$tree$doc/$md.gz"
  else
    install -m 0644 "$md" "$tree$doc/$md"
  fi
done
install -m 0644 docs/*.png "$tree$doc/docs/" 2>/dev/null || true
f etc/snowflake/spotifyd-etl.sql "$doc/snowflake/spotifyd-etl.sql"
f packaging/deb/copyright "$doc/copyright"
# A native package: the changelog is changelog.gz, in Debian changelog format.
{
  printf '%s (%s) unstable; urgency=medium\n\n' "$pkg" "$version"
  printf '  * Release %s, built from %s.\n\n' "$version" \
    "$(git -C "$root" describe --always --dirty 2>/dev/null || echo 'a source tree')"
  printf ' -- %s  %s\n' "$maintainer" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$tree$doc/changelog.gz"

# ------------------------------------------------------------------ control
# Depends from the binary: dpkg-shlibdeps maps each DT_NEEDED library to its package and
# minimum version (it needs a debian/control naming the package, so give it one in a
# scratch directory).
shl="$stage/shlibdeps"
mkdir -p "$shl/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$pkg" "$pkg" >"$shl/debian/control"
shlib_depends="$(cd "$shl" && dpkg-shlibdeps -O -e"$tree/usr/bin/$pkg" 2>"$stage/shlibdeps.err" \
  | sed -n 's/^shlibs:Depends=//p')" || true
if [ -z "$shlib_depends" ]; then
  cat "$stage/shlibdeps.err" >&2
  echo "package-deb.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1
fi
# ca-certificates: libcurl verifies TLS against /etc/ssl/certs. systemd-sysusers (postinst)
# comes with systemd, or standalone; deb-systemd-helper with init-system-helpers.
depends="$shlib_depends, ca-certificates, systemd | systemd-standalone-sysusers, init-system-helpers (>= 1.54~)"
# Installed-Size as dpkg-gencontrol computes it: KiB per file rounded up, 1 per directory.
installed_size="$(cd "$tree" && find . -path ./DEBIAN -prune -o \( -type f -o -type l -o -type d \) -printf '%s %y\n' \
  | awk '{ if ($2 == "d") n += 1; else n += int(($1 + 1023) / 1024) } END { print n }')"
control="$(cat packaging/deb/control.in)"
control="${control//@VERSION@/$version}"; control="${control//@ARCH@/$arch}"
control="${control//@DEPENDS@/$depends}"; control="${control//@MAINTAINER@/$maintainer}"
control="${control//@INSTALLED_SIZE@/$installed_size}"
printf '%s\n' "$control" >"$tree/DEBIAN/control"
install -m 0644 packaging/deb/conffiles "$tree/DEBIAN/conffiles"
for s in postinst prerm postrm; do install -m 0755 "packaging/deb/$s" "$tree/DEBIAN/$s"; done
# md5sums of every file but the conffiles (dpkg records those itself).
(cd "$tree" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort \
  | grep -v -x -F -f <(sed 's|^/||' DEBIAN/conffiles) | xargs -r -d '\n' md5sum) >"$tree/DEBIAN/md5sums"
chmod 0644 "$tree/DEBIAN/md5sums"

# Every directory 0755, no group/other write anywhere (the umask of whoever runs this must not
# leak into the package).
find "$tree" -type d -exec chmod 0755 {} +
find "$tree" -type f ! -perm -u+x -exec chmod 0644 {} +

mkdir -p dist
out="dist/${pkg}_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$tree" "$stage/$(basename "$out")" >&2
mv -f "$stage/$(basename "$out")" "$out"
echo "== built $out ($(du -h "$out" | cut -f1), Installed-Size $installed_size KiB) in $((SECONDS - t0)) s" >&2
echo "   Depends: $depends" >&2

if [ "$run_lintian" = 1 ]; then
  if command -v lintian >/dev/null; then
    echo "== lintian $out" >&2
    lintian_out="$(lintian "$out" 2>&1)" || true
    printf '%s\n' "$lintian_out" >&2
    if printf '%s\n' "$lintian_out" | grep -q '^E: '; then
      echo "package-deb.sh: lintian reports errors" >&2; exit 1
    fi
  else
    echo "package-deb.sh: lintian not installed; skipped (scripts/install-deps.sh --test installs it)" >&2
  fi
fi
echo "$out"
