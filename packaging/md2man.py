#!/usr/bin/env python3
"""Renders docs/configuration.md as the man page spotifyd-etl.toml(5).

    python3 packaging/md2man.py docs/configuration.md --version 0.1.0 --date 2026-12-02 >spotifyd-etl.toml.5

The page is generated, never hand-kept, so it stays true to the reference the doc checker
(scripts/check-docs.py) holds to the code. Only the Markdown that configuration.md uses is
understood: ATX headings, paragraphs, `-` lists, fenced code blocks, pipe tables, `code`,
**bold**, [links](target). Key tables (first column `key` or `name`) become one tagged
paragraph per row: the key in bold, then the other columns. The "Programmatic API" section
(Swift module API, not operator-facing) is left out. Python standard library only.
"""
import argparse
import re
import sys

SKIP_SECTIONS = {"Programmatic API (module `ETLConfig`)"}


def esc(text: str) -> str:
    """Escapes roff specials in running text (not for macro names)."""
    text = text.replace("\\", "\\e")
    # A line starting with . or ' would be read as a request.
    return text


def inline(text: str) -> str:
    text = esc(text)
    # Links: keep the text; a link to another doc names the file.
    text = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", lambda m: link(m.group(1), m.group(2)), text)
    text = re.sub(r"\*\*(.+?)\*\*", r"\\fB\1\\fR", text)
    text = re.sub(r"`([^`]+)`", lambda m: "\\fB" + m.group(1).replace("-", "\\-") + "\\fR", text)
    text = text.replace("…", "...").replace("—", "\\(em").replace("–", "\\(en")
    text = text.replace("≤", "<=").replace("→", "\\(->")
    return text


def link(label: str, target: str) -> str:
    if target.startswith("http"):
        return f"{label} <{target}>"
    doc = target.split("#")[0]
    if doc:
        return f"{label} (/usr/share/doc/spotifyd-etl/{doc})"
    return label


def line_safe(text: str) -> str:
    if text.startswith((".", "'")):
        return "\\&" + text
    return text


def cells(row: str) -> list[str]:
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|"):
        row = row[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)]


def render(md: str, version: str, date: str) -> str:
    out = [
        f'.TH SPOTIFYD\\-ETL.TOML 5 "{date}" "spotifyd-etl {version}" "File Formats Manual"',
        ".SH NAME",
        "spotifyd-etl.toml \\- configuration file of the spotifyd-etl daemon",
        ".SH SYNOPSIS",
        "\\fB/etc/spotifyd\\-etl/spotifyd\\-etl.toml\\fR",
        ".SH DESCRIPTION",
    ]
    lines = md.splitlines()
    i = 0
    skipping = False
    first_heading_seen = False
    para: list[str] = []

    def flush_para():
        if para:
            out.append(".PP")
            out.extend(line_safe(inline(p)) for p in para)
            para.clear()

    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(#{1,6})\s+(.*)$", line)
        if m:
            flush_para()
            level, title = len(m.group(1)), m.group(2).strip()
            i += 1
            if level == 1:
                first_heading_seen = True
                continue
            skipping = title in SKIP_SECTIONS
            if skipping:
                continue
            heading = inline(title).replace('"', "")
            out.append(f'.SH "{heading.upper()}"' if level == 2 and not title.startswith("`") else
                       (f".SH {heading}" if level == 2 else f".SS {heading}"))
            continue
        if skipping:
            i += 1
            continue
        if line.startswith("```"):
            flush_para()
            i += 1
            out.append(".PP")
            out.append(".RS 4")
            out.append(".nf")
            while i < len(lines) and not lines[i].startswith("```"):
                out.append(line_safe(esc(lines[i])))
                i += 1
            out.append(".fi")
            out.append(".RE")
            i += 1
            continue
        if line.startswith("|"):
            flush_para()
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(cells(lines[i]))
                i += 1
            header, body = rows[0], [r for r in rows[1:] if not all(re.fullmatch(r":?-+:?", c) for c in r)]
            for r in body:
                out.append(".TP")
                out.append(line_safe(inline(r[0])))
                rest = []
                for name, value in zip(header[1:], r[1:]):
                    if name in ("rules", "needed"):
                        rest.append(value)
                    else:
                        rest.append(f"{name}: {value}")
                text = "; ".join(rest[:-1]) + (". " if len(rest) > 1 else "") + rest[-1] if rest else ""
                out.append(line_safe(inline(text)))
            continue
        if re.match(r"^- ", line):
            flush_para()
            item = [line[2:]]
            i += 1
            while i < len(lines) and lines[i].startswith("  ") and lines[i].strip():
                item.append(lines[i].strip())
                i += 1
            out.append('.IP "\\(bu" 2')
            out.extend(line_safe(inline(p)) for p in item)
            continue
        if not line.strip():
            flush_para()
            i += 1
            continue
        if first_heading_seen:
            para.append(line.strip())
        i += 1
    flush_para()
    out += [
        ".SH FILES",
        ".TP",
        "\\fB/etc/spotifyd\\-etl/spotifyd\\-etl.toml\\fR",
        "The configuration file, a dpkg conffile: as installed it is the commented sample",
        "(example playlists, a local sink; edit the playlists and the sink).",
        ".TP",
        "\\fB/etc/spotifyd\\-etl/credentials/\\fR",
        "Secrets, one file per name, loaded by the unit with \\fBLoadCredential=\\fR.",
        ".SH SEE ALSO",
        "\\fBspotifyd\\-etl\\fR(1), \\fBspotifyd\\-etl\\-check\\-config\\fR(1),",
        "\\fBsystemd.exec\\fR(5), \\fB/usr/share/doc/spotifyd\\-etl/configuration.md\\fR",
    ]
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("markdown")
    ap.add_argument("--version", required=True)
    ap.add_argument("--date", required=True)
    args = ap.parse_args()
    with open(args.markdown, encoding="utf-8") as f:
        sys.stdout.write(render(f.read(), args.version, args.date))
    return 0


if __name__ == "__main__":
    sys.exit(main())
