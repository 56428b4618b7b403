#!/usr/bin/env python3
"""Turns the pages swift-argument-parser's generate-manual plugin writes (mdoc, one per command
with --multi-page) into the pages the Debian package ships.

    python3 packaging/manpages.py PLUGIN_OUTPUT_DIR DEST_DIR

The plugin names a subcommand's page `spotifyd-etl.status.1` and its NAME `spotifyd-etl status`;
man-db's whatis parser (lexgrog, and lintian's bad-whatis-entry) cannot read a name with a space,
and Debian's convention for subcommand pages is git's: the file and NAME `spotifyd-etl-status`,
the SYNOPSIS as typed, `spotifyd-etl status ...`. So per page:
  - file spotifyd-etl.SUB.1 -> spotifyd-etl-SUB.1, `.Dt` likewise;
  - NAME `.Nm "spotifyd-etl SUB"` -> `.Nm spotifyd-etl-SUB`; the SYNOPSIS keeps the command as
    typed (`.Nm "spotifyd-etl SUB"`);
  - cross references `.Xr spotifyd-etl.SUB 1` -> `.Xr spotifyd-etl-SUB 1`; the main page's SEE ALSO
    gains spotifyd-etl.toml(5);
  - argument-parser's built-in `help` subcommand gets no page (it prints --help);
  - blank lines inside text (paragraph breaks of a discussion) become `.Pp`: a blank line is not
    valid mdoc and groff warns about each.
Python standard library only.
"""
import os
import re
import sys

TOOL = "spotifyd-etl"


def convert(text: str, sub: str | None) -> str:
    out = []
    section = None
    for line in text.splitlines():
        if line.startswith(".Sh "):
            section = line[4:].strip('"')
        if sub is not None:
            if line.startswith(".Dt "):
                line = f".Dt {TOOL.upper()}-{sub.upper()} 1"
            elif section == "NAME" and line.startswith(".Nm "):
                line = f".Nm {TOOL}-{sub}"
            elif section == "SYNOPSIS" and line == ".Nm":
                line = f'.Nm "{TOOL} {sub}"'
        m = re.match(rf"^\.Xr {re.escape(TOOL)}\.([A-Za-z0-9-]+) (\d)(.*)$", line)
        if m:
            if m.group(1) == "help":
                continue
            line = f".Xr {TOOL}-{m.group(1)} {m.group(2)}{m.group(3)}"
        if line.strip() == "":
            line = ".Pp"
        out.append(line)
    if sub is None:
        # Main page: add the config file's page after the last subcommand reference.
        last = max((i for i, l in enumerate(out) if l.startswith(".Xr ")), default=None)
        if last is not None:
            out[last] = out[last].rstrip(" ,") + " ,"
            out.insert(last + 1, f".Xr {TOOL}.toml 5")
    return "\n".join(out) + "\n"


def main() -> int:
    src, dest = sys.argv[1], sys.argv[2]
    os.makedirs(dest, exist_ok=True)
    written = []
    for name in sorted(os.listdir(src)):
        if not name.endswith(".1"):
            continue
        stem = name[:-2]
        if stem == TOOL:
            sub = None
            new = name
        elif stem.startswith(TOOL + "."):
            sub = stem[len(TOOL) + 1:]
            if sub == "help":
                continue
            new = f"{TOOL}-{sub.replace('.', '-')}.1"
        else:
            continue
        with open(os.path.join(src, name), encoding="utf-8") as f:
            text = convert(f.read(), sub)
        with open(os.path.join(dest, new), "w", encoding="utf-8") as f:
            f.write(text)
        written.append(new)
    if f"{TOOL}.1" not in written:
        print(f"manpages.py: no {TOOL}.1 in {src}", file=sys.stderr)
        return 1
    print(" ".join(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
