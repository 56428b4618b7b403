#!/usr/bin/env python3
"""Keeps the docs true to the code: every subcommand, flag and config key that README.md,
docs/*.md and etc/** name must exist, and every one that exists must be documented.

    python3 scripts/check-docs.py [BINARY]        # BINARY defaults to .build/debug/spotifyd-etl

Prints one line per problem and exits 1, or prints a one-line summary and exits 0. Exit 2 when
the truth cannot be read from the binary at all. Python standard library only.

Where the truth comes from (never from a hand-kept list in this script)
-----------------------------------------------------------------------
Subcommands and flags: the real binary. `spotifyd-etl --experimental-dump-help` (swift-argument-
parser's JSON dump of every command, option and flag) is read; if a future parser dropped it, the
`--help` / `help <sub>` texts are parsed instead. Argument-parser's own flags (--help, -h,
--version, --generate-completion-script, --experimental-*) and its `help` subcommand may be named
but need no documentation; hidden (shouldDisplay false) flags likewise. Short flags are not checked.

Config keys: the real config loader, asked through the binary. The loader reads every table with
a fixed list of allowed keys (ConfigLoader.swift, `TableReader(..., allowed:)`) and rejects any
other key with "<file>: <path>.<key>: unknown key ...; allowed here: a, b, c". So the script writes
small probe files, each with one unknown key in one place, runs `spotifyd-etl check-config
--config PROBE`, and reads the list back from that line: first the root (which yields the
sections), then each section as a table (`[s]`) or, if that is refused, as an array of tables
(`[[s]]`), then every key of a table section as a sub-table (`[s.k]`) in case it is one. Only
the first error of a file is printed, and unknown keys are checked before anything else in a
table, so each probe answers exactly its own question. This is more robust than parsing the Swift
source (the lists are spread over literals and static lets) and needs no dev-only flag: it is the
same code path and message an operator gets. The one thing the probes assume is that the loader
requires a playlist: probes of other sections carry `playlists = ["<a valid id>"]` (PROBE_BASE).
If the message format changes, the probe fails loudly (exit 2), never silently passes.

What the docs name
------------------
Files: README.md and docs/*.md (Markdown), etc/spotifyd-etl.toml (TOML; commented-out
`# key = value` lines count when the rest parses as a TOML value, so prose comments do not),
other files under etc/ (only backticked `spotifyd-etl <sub> --flag` mentions, e.g. in SQL
comments; the Snowflake SQL is not config). In Markdown:
- Commands are read from fenced shell blocks (```sh, plain ```, Exec*= lines of ```ini),
  indented code blocks and inline code spans. `spotifyd-etl <sub>` counts when spotifyd-etl is
  the command word (after sudo/env/VAR=, or a path ending in /spotifyd-etl) and <sub> is not a
  prose word (`spotifyd-etl is not running` is a message); `status|poll|flush` lists
  alternatives. Prose such as "spotifyd-etl writes ..." outside code is not a mention.
- A `--flag` belongs to the command it follows on the same line (a line that starts with a flag
  continues the previous one); a span that starts with a subcommand (`run --once`) checks its
  flags against that subcommand; a flag-only span (`--print`) belongs to the last command line
  in the same paragraph, list item or table row. Flags of other tools (`scripts/chaos --keep`,
  `swift build --product`, `aws ... --namespace`) are skipped. A flag left unattributed counts
  as documentation if some subcommand has it; if none has it, it is reported only when the
  same paragraph runs spotifyd-etl itself and the same document does not use the flag with
  another tool (so "`--keep` leaves the container running", about a test script, is not).
- Config keys: ```toml blocks; spans `[section]`, `[[section]]`, `[section] key`,
  `[section] key = value`, `[section].key`, `section.key` (array sections only as
  `section[0].key`, since `playlists.public` is a Snowflake column; `state.db`-like file names
  excluded); key tables (first cell `key`) under a heading that names `[section]`; rows whose
  first cell is `[section]`, listing keys as spans (spans in parentheses are values). Section
  names are lowercase TOML keys, so `[Service]`, `[REDACTED]`, `[OUTPUT]` are not sections.

Documented means: a subcommand named as `spotifyd-etl <sub>` in README.md or docs/; a flag named
for that subcommand, or unattributed, there; a config key named in README.md, docs/ or
etc/spotifyd-etl.toml.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field

PROG = "spotifyd-etl"
# Words after the program name that make a span prose, not a command (`spotifyd-etl is not running`).
PROSE_WORDS = {"is", "was", "has", "had", "does", "did", "will", "can", "cannot", "must", "should",
               "would", "may", "and", "or", "the", "a", "an", "to", "of", "on", "in", "with", "for",
               "as", "at", "by", "not", "also", "itself", "vs"}
# `state.db` is a file, not the key `db` of [state].
FILE_SUFFIXES = {"db", "toml", "sock", "sql", "md", "json", "service", "py", "sh", "gz", "csv", "ndjson",
                 "txt", "log", "png", "swift", "yaml", "yml", "ini", "conf", "socket", "timer", "wal"}
BUILTIN_FLAGS = {"--help", "-h", "--version", "--generate-completion-script"}
BUILTIN_FLAG_PREFIXES = ("--experimental-",)
BUILTIN_SUBCOMMANDS = {"help"}
PROBE_KEY = "zz_check_docs_probe"
PROBE_BASE = 'playlists = ["37i9dQZF1DXcBWIGoYBM5M"]\n'
UNKNOWN_KEY_RE = re.compile(
    r': (?P<path>[^:\s]+): unknown key(?: \(did you mean "[^"]*"\?\))?; allowed here: (?P<keys>.*)$')


def is_builtin_flag(flag: str) -> bool:
    return flag in BUILTIN_FLAGS or flag.startswith(BUILTIN_FLAG_PREFIXES)


# ---------------------------------------------------------------------------------------------
# Truth: the CLI


@dataclass
class CLI:
    # "" is the root command; nested subcommands are "a b".
    flags: dict[str, set[str]] = field(default_factory=dict)
    hidden: dict[str, set[str]] = field(default_factory=dict)

    @property
    def subcommands(self) -> list[str]:
        return sorted(s for s in self.flags if s and s not in BUILTIN_SUBCOMMANDS)

    def knows(self, sub: str) -> bool:
        return sub in self.flags or sub in BUILTIN_SUBCOMMANDS

    def all_flags(self) -> set[str]:
        out: set[str] = set()
        for s, f in self.flags.items():
            out |= f | self.hidden.get(s, set())
        return out


def cli_from_dump(dump: dict) -> CLI:
    """Subcommands and long flags from `--experimental-dump-help` JSON."""
    cli = CLI()

    def walk(cmd: dict, path: str) -> None:
        shown, hidden = set(), set()
        for arg in cmd.get("arguments", []):
            if arg.get("kind") not in ("option", "flag"):
                continue
            for n in arg.get("names", []):
                if n.get("kind") in ("long", "longWithSingleDash"):
                    flag = "--" + n["name"]
                    if is_builtin_flag(flag):
                        continue
                    (shown if arg.get("shouldDisplay", True) else hidden).add(flag)
        cli.flags[path] = shown
        cli.hidden[path] = hidden
        for sub in cmd.get("subcommands", []):
            name = sub["commandName"]
            walk(sub, (path + " " + name).strip())

    walk(dump["command"], "")
    return cli


def _help_section(text: str, title: str) -> list[str]:
    lines, out, inside = text.splitlines(), [], False
    for line in lines:
        if re.match(r"^[A-Z][A-Z ]+:", line):
            inside = line.startswith(title + ":")
            continue
        if inside:
            out.append(line)
    return out


def cli_from_help(root_help: str, sub_helps: dict[str, str]) -> CLI:
    """Fallback: subcommands from the root --help's SUBCOMMANDS, flags from each OPTIONS."""
    cli = CLI()

    def flags_of(text: str) -> set[str]:
        found = set()
        for line in _help_section(text, "OPTIONS"):
            m = re.match(r"^\s{2}(?:-\w, )?(--[A-Za-z0-9][A-Za-z0-9-]*)", line)
            if m and not is_builtin_flag(m.group(1)):
                found.add(m.group(1))
        return found

    cli.flags[""] = flags_of(root_help)
    for sub, text in sub_helps.items():
        cli.flags[sub] = flags_of(text)
    return cli


def help_subcommands(root_help: str) -> list[str]:
    subs = []
    for line in _help_section(root_help, "SUBCOMMANDS"):
        m = re.match(r"^\s{2}([a-z][a-z0-9-]*)(?:\s|$)", line)
        if m:
            subs.append(m.group(1))
    return subs


def run_binary(binary: str, args: list[str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPOTIFY", "AWS_", "CREDENTIALS_"))}
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, env=env)


def read_cli(binary: str) -> CLI:
    p = run_binary(binary, ["--experimental-dump-help"])
    if p.returncode == 0:
        try:
            return cli_from_dump(json.loads(p.stdout))
        except (ValueError, KeyError):
            pass
    root = run_binary(binary, ["--help"]).stdout
    subs = {s: run_binary(binary, ["help", s]).stdout for s in help_subcommands(root)}
    return cli_from_help(root, subs)


# ---------------------------------------------------------------------------------------------
# Truth: the config loader


class ProbeError(Exception):
    pass


@dataclass
class Config:
    # table path ("" root, "sink", "sink.s3") -> allowed keys; arrays holds array-of-table paths.
    tables: dict[str, list[str]] = field(default_factory=dict)
    arrays: set[str] = field(default_factory=set)

    def is_table(self, path: str) -> bool:
        return path in self.tables

    def leaves(self) -> list[tuple[str, str]]:
        out = []
        for path, keys in self.tables.items():
            for k in keys:
                if not self.is_table(join(path, k)):
                    out.append((path, k))
        return sorted(out)

    def sections(self) -> list[str]:
        return sorted(p for p in self.tables if p)



def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def parse_unknown_key(output: str) -> tuple[str, list[str]] | None:
    """("sink.zz", ["kind", ...]) from the loader's unknown-key line, or None."""
    for line in output.splitlines():
        m = UNKNOWN_KEY_RE.search(line)
        if m:
            return m.group("path"), [k.strip() for k in m.group("keys").split(",") if k.strip()]
    return None


def probe_config(ask) -> Config:
    """Asks the loader for its allowed keys. `ask(toml_text)` returns the loader's output."""
    cfg = Config()

    def allowed(text: str, *paths: str) -> list[str] | None:
        got = parse_unknown_key(ask(text))
        if got and got[0] in paths:
            return got[1]
        return None

    root = allowed(f"{PROBE_KEY} = 1\n", PROBE_KEY)
    if root is None:
        raise ProbeError("the config loader did not answer the root probe with 'unknown key ...; allowed here: ...'")
    cfg.tables[""] = root
    for s in root:
        inner = f"{PROBE_KEY} = 1\n"
        keys = allowed(PROBE_BASE + f"[{s}]\n" + inner, f"{s}.{PROBE_KEY}")
        if keys is None:
            keys = allowed(f"[{s}]\n" + inner, f"{s}.{PROBE_KEY}")
        if keys is not None:
            cfg.tables[s] = keys
            _probe_subtables(cfg, allowed, PROBE_BASE, s, s, 2)
            continue
        keys = allowed(f"[[{s}]]\n" + inner, f"{s}[0].{PROBE_KEY}")
        if keys is not None:
            cfg.tables[s] = keys
            cfg.arrays.add(s)
            continue
        # A plain key of the root (not a table): nothing below it.
    return cfg


def _probe_subtables(cfg: Config, allowed, base: str, path: str, shown: str, depth: int) -> None:
    if depth == 0:
        return
    for k in cfg.tables[path]:
        sub = join(path, k)
        keys = allowed(base + f"[{sub}]\n{PROBE_KEY} = 1\n", f"{sub}.{PROBE_KEY}")
        if keys is not None:
            cfg.tables[sub] = keys
            _probe_subtables(cfg, allowed, base, sub, sub, depth - 1)


def read_config(binary: str) -> Config:
    with tempfile.TemporaryDirectory(prefix="check-docs.") as d:
        probe = os.path.join(d, "probe.toml")

        def ask(text: str) -> str:
            with open(probe, "w") as f:
                f.write(text)
            p = run_binary(binary, ["check-config", "--config", probe])
            return p.stdout + p.stderr

        return probe_config(ask)


# ---------------------------------------------------------------------------------------------
# What the docs name


@dataclass
class Mention:
    file: str
    line: int
    kind: str          # "sub", "flag", "key", "section"
    name: str          # subcommand path, flag, key, section path
    # flag: ("ours", sub) / ("foreign", word) / ("any", block runs spotifyd-etl); key: section path
    owner: object = None


class Scanner:
    """Collects mentions from one file's text."""

    def __init__(self, cli: CLI, cfg: Config, file: str):
        self.cli, self.cfg, self.file = cli, cfg, file
        self.mentions: list[Mention] = []
        self.current = None  # the command flags attach to
        self.invoked = False  # the paragraph or code block runs spotifyd-etl itself

    def add(self, line, kind, name, owner=None):
        self.mentions.append(Mention(self.file, line, kind, name, owner))

    def begin_block(self) -> int:
        self.current, self.invoked = None, False
        return len(self.mentions)

    def end_block(self, start: int) -> None:
        """Unattributed flags of the block: checked against all flags only if the block runs
        spotifyd-etl itself (else `--keep` of a script described in prose would be reported)."""
        for m in self.mentions[start:]:
            if m.kind == "flag" and m.owner is None:
                m.owner = ("any", self.invoked)

    # --- commands ---------------------------------------------------------------------------

    SEGMENT_SPLIT = re.compile(r"\s\|\|?\s|;|&&|`|\$\(|\(|\s#\s|\s#$|^#\s?")
    PREFIX_WORDS = {"sudo", "env", "exec", "time", "nohup", "command", "$", ">", "!", "=", "-", "—"}

    def shell(self, text: str, line: int, span: bool = False) -> None:
        """Analyses a command line or an inline code span."""
        for seg in self.SEGMENT_SPLIT.split(text):
            self.segment(seg, line, span)

    def segment(self, seg: str, line: int, span: bool) -> None:
        toks = seg.split()
        i = 0
        while i < len(toks) and (toks[i] in self.PREFIX_WORDS or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", toks[i])):
            i += 1
        if i >= len(toks):
            return
        first = toks[i]
        if first.startswith("-"):
            rest = toks[i:]
        elif (first == PROG or first.endswith("/" + PROG)) and i + 1 < len(toks) \
                and toks[i + 1].lower().rstrip(".,:;") not in PROSE_WORDS:
            self.invoked = True
            i += 1
            while i < len(toks) and toks[i].startswith("-"):
                self.flag(toks[i], line, ("ours", ""))
                i += 1
            sub = ""
            if i < len(toks) and re.match(r"^[a-z][a-z0-9-]*(\|[a-z][a-z0-9-]*)*[.,:;)]*$", toks[i]):
                words = toks[i].rstrip(".,:;)").split("|")
                for w in words:
                    self.add(line, "sub", w)
                sub = words[-1]
                i += 1
                # nested subcommands ("a b") and `help <sub>`
                while i < len(toks) and re.match(r"^[a-z][a-z0-9-]*$", toks[i]):
                    if (sub + " " + toks[i]) in self.cli.flags:
                        sub = sub + " " + toks[i]
                        self.add(line, "sub", sub)
                    elif sub == "help" and self.cli.knows(toks[i]):
                        pass
                    else:
                        break
                    i += 1
                if len(words) > 1:
                    sub = None  # flags after `a|b|c` belong to any of them
            self.current = ("ours", sub) if sub is not None else None
            rest = toks[i:]
        elif first == PROG or first.endswith("/" + PROG):
            return  # the bare name or a path, or prose such as `spotifyd-etl is not running`
        elif span and self.cli.knows(first.rstrip(".,:;)")):
            # `run --once`: its own flags are checked, but it is a reference, not an
            # invocation, so later flag-only spans do not attach to it.
            for t in toks[i + 1:]:
                if t.startswith("--"):
                    self.flag(t, line, ("ours", first.rstrip(".,:;)")))
            return
        else:
            rest = toks[i + 1:]
            if span and (not rest or first.startswith("[") or " = " in seg):
                return  # a word, path or config snippet (`http://…/callback`, `[control] socket`)
            self.current = ("foreign", first)
        for t in rest:
            if t.startswith("--"):
                self.flag(t, line, self.current)

    def flag(self, tok: str, line: int, owner) -> None:
        m = re.match(r"^(--[A-Za-z0-9][A-Za-z0-9-]*)", tok)
        if m:
            self.add(line, "flag", m.group(1), owner)

    # --- config -----------------------------------------------------------------------------

    def config_span(self, span: str, line: int) -> None:
        s = span.strip()
        m = re.match(r"^\[\[?([a-z][a-z0-9_-]*(?:\.[a-z0-9_-]+)*)\]\]?(?:\s*\.?\s*([A-Za-z0-9_-]+)(?:\s*=\s*.*)?)?$", s)
        if m:
            if m.group(2):
                self.add(line, "key", m.group(2), m.group(1))
            else:
                self.add(line, "section", m.group(1))
            return
        m = re.match(r"^([A-Za-z0-9_-]+)(\[\d+\])?((?:\.[A-Za-z0-9_-]+)+)(?:\s*=\s*.*)?$", s)
        if m and m.group(1) in self.cfg.tables.get("", []) and not (
                m.group(3).count(".") == 1 and m.group(3)[1:] in FILE_SUFFIXES):
            parts = [m.group(1)] + m.group(3).split(".")[1:]
            top = parts[0]
            if (top in self.cfg.arrays) != bool(m.group(2)):
                return  # `playlists.public` (a column), or `sink[0].x` (not this config)
            self.add(line, "key", parts[-1], ".".join(parts[:-1]))
            return

    def toml_line(self, raw: str, line: int, table: list) -> None:
        """One line of TOML (a sample or a ```toml block); commented-out keys count."""
        text = raw.strip()
        commented = text.startswith("#")
        if commented:
            text = text.lstrip("#").strip()
        h = re.match(r"^\[(\[)?\s*([A-Za-z0-9_.-]+)\s*\]\]?\s*(#.*)?$", text)
        if h:
            table[0] = h.group(2)
            self.add(line, "section", h.group(2))
            return
        k = re.match(r"^([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*)\s*=\s*(.*)$", text)
        if k and (not commented or toml_value(k.group(2))):
            parts = k.group(1).split(".")
            path = join(table[0], ".".join(parts[:-1])) if len(parts) > 1 else table[0]
            if path:
                self.add(line, "key", parts[-1], path)
            else:
                self.add(line, "section", parts[-1])


def toml_value(text: str) -> bool:
    try:
        tomllib.loads("v = " + text)
        return True
    except tomllib.TOMLDecodeError:
        return False


SPAN_RE = re.compile(r"(`+)(.+?)\1", re.S)
FLAG_RE = re.compile(r"(?<![\w`-])(--[A-Za-z][A-Za-z0-9-]*)")
BLOCK_START = re.compile(r"^\s{0,3}(?:[-*+]\s|\d+\.\s|\||#)")


def line_of(text: str, offset: int, first_line: int) -> int:
    return first_line + text.count("\n", 0, offset)


def scan_prose(sc: Scanner, text: str, first_line: int, heading_section: str | None, config: bool = True) -> None:
    start = sc.begin_block()
    try:
        _scan_prose(sc, text, first_line, heading_section, config)
    finally:
        sc.end_block(start)


def _scan_prose(sc: Scanner, text: str, first_line: int, heading_section: str | None, config: bool) -> None:
    spans = [(m.start(), m.end(), m.group(2)) for m in SPAN_RE.finditer(text)]
    events = [(s, "span", body, e) for s, e, body in spans]
    masked = SPAN_RE.sub(lambda m: " " * len(m.group(0)), text)
    events += [(m.start(), "flag", m.group(1), 0) for m in FLAG_RE.finditer(masked)]
    events.sort(key=lambda e: e[0])
    for off, kind, body, _ in events:
        ln = line_of(text, off, first_line)
        if kind == "flag":
            sc.flag(body, ln, sc.current)
            continue
        body_ln = ln
        sc.shell(" ".join(body.split()), body_ln, span=True)
        if config:
            sc.config_span(" ".join(body.split()), body_ln)
    if not config:
        return
    # Config tables: a row of a key table under a `[section]` heading, or a `[section]` row.
    stripped = text.strip()
    if stripped.startswith("|"):
        cells = [c.strip() for c in stripped.strip("|").split("|")]
        if not cells or re.match(r"^:?-+:?$", cells[0]):
            return
        m = re.match(r"^`\[\[?([A-Za-z0-9_.-]+)\]\]?`$", cells[0])
        if m:
            rest = " | ".join(cells[1:])
            rest = re.sub(r"\([^()]*\)", "", rest)
            for km in re.finditer(r"`([A-Za-z0-9_-]+)`", rest):
                sc.add(first_line, "key", km.group(1), m.group(1))
            return
        k = re.match(r"^`([A-Za-z0-9_-]+)`$", cells[0])
        if k and heading_section:
            sc.add(first_line, "key", k.group(1), heading_section)


def scan_markdown(sc: Scanner, text: str) -> None:
    lines = text.split("\n")
    heading_section = None
    i = 0
    block: list[str] = []
    block_start = 0

    def flush():
        nonlocal block
        if block and all(re.match(r"^(    |\t)", b) for b in block):
            scan_code(sc, "", block, block_start)  # an indented code block
        elif block:
            scan_prose(sc, "\n".join(block), block_start, heading_section)
        block = []

    while i < len(lines):
        line = lines[i]
        fence = re.match(r"^\s*(```+|~~~+)\s*([A-Za-z0-9_+-]*)", line)
        if fence:
            flush()
            marker, lang = fence.group(1), fence.group(2).lower()
            body_start = i + 1
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(marker):
                i += 1
            scan_code(sc, lang, lines[body_start:i], body_start + 1)
            i += 1
            continue
        if not line.strip():
            flush()
            i += 1
            continue
        if line.lstrip().startswith("#") and re.match(r"^\s{0,3}#{1,6}\s", line):
            flush()
            hm = re.search(r"`\[\[?([A-Za-z0-9_.-]+)\]\]?`", line)
            heading_section = hm.group(1) if hm else None
            scan_prose(sc, line, i + 1, None)
            i += 1
            continue
        if block and BLOCK_START.match(line):
            flush()
        if not block:
            block_start = i + 1
        block.append(line)
        i += 1
    flush()


SHELL_LANGS = {"", "sh", "bash", "shell", "console", "shell-session", "zsh"}


def scan_code(sc: Scanner, lang: str, lines: list[str], first_line: int) -> None:
    start = sc.begin_block()
    try:
        _scan_code(sc, lang, lines, first_line)
    finally:
        sc.end_block(start)


def _scan_code(sc: Scanner, lang: str, lines: list[str], first_line: int) -> None:
    if lang == "toml":
        table = [""]
        for n, line in enumerate(lines):
            sc.toml_line(line, first_line + n, table)
        return
    for n, line in enumerate(lines):
        if lang in SHELL_LANGS:
            sc.shell(line, first_line + n)
        elif lang in ("ini", "systemd"):
            m = re.match(r"^\s*Exec\w*=[-@:+!]*(.*)$", line)
            if m:
                sc.shell(m.group(1), first_line + n)


def scan_toml_file(sc: Scanner, text: str) -> None:
    table = [""]
    for n, line in enumerate(text.split("\n"), start=1):
        sc.toml_line(line, n, table)
        c = line.find("#")
        if c >= 0:
            scan_prose(sc, line[c + 1:], n, None, config=False)


def scan_other_file(sc: Scanner, text: str) -> None:
    for n, line in enumerate(text.split("\n"), start=1):
        if "`" in line:
            scan_prose(sc, line, n, None, config=False)


# ---------------------------------------------------------------------------------------------
# Checking


def doc_files(root: str) -> list[tuple[str, str]]:
    """(relative path, kind) for README.md, docs/*.md and etc/**."""
    out = []
    if os.path.exists(os.path.join(root, "README.md")):
        out.append(("README.md", "md"))
    docs = os.path.join(root, "docs")
    if os.path.isdir(docs):
        for f in sorted(os.listdir(docs)):
            if f.endswith(".md"):
                out.append((f"docs/{f}", "md"))
    etc = os.path.join(root, "etc")
    for d, _, files in sorted(os.walk(etc)):
        for f in sorted(files):
            rel = os.path.relpath(os.path.join(d, f), root)
            out.append((rel, "toml" if f.endswith(".toml") else "other"))
    return out


def scan_files(root: str, cli: CLI, cfg: Config, files=None) -> list[Mention]:
    mentions = []
    for rel, kind in (files if files is not None else doc_files(root)):
        try:
            with open(os.path.join(root, rel), encoding="utf-8") as f:
                text = f.read()
        except (UnicodeDecodeError, OSError):
            continue
        sc = Scanner(cli, cfg, rel)
        {"md": scan_markdown, "toml": scan_toml_file, "other": scan_other_file}[kind](sc, text)
        mentions += sc.mentions
    return mentions


def counts_as_docs(file: str, kind: str) -> bool:
    if file == "README.md" or file.startswith("docs/"):
        return True
    return kind in ("key", "section") and file.endswith(".toml")


def check(cli: CLI, cfg: Config, mentions: list[Mention]) -> list[str]:
    problems: list[tuple[str, int, str]] = []
    foreign: dict[str, set[str]] = {}
    for m in mentions:
        if m.kind == "flag" and m.owner and m.owner[0] == "foreign":
            foreign.setdefault(m.file, set()).add(m.name)

    documented_subs: set[str] = set()
    documented_flags: set[tuple[str, str]] = set()
    generic_flags: set[str] = set()
    documented_keys: set[tuple[str, str]] = set()
    documented_sections: set[str] = set()
    all_flags = cli.all_flags()

    for m in mentions:
        where = (m.file, m.line)
        docs = counts_as_docs(m.file, m.kind)
        if m.kind == "sub":
            if not cli.knows(m.name):
                problems.append((*where, f"names subcommand `{m.name}`, which does not exist"))
            elif docs:
                documented_subs.add(m.name)
        elif m.kind == "flag":
            if is_builtin_flag(m.name):
                continue
            owner = m.owner
            if owner and owner[0] == "foreign":
                continue
            if owner and owner[0] == "ours" and owner[1] is not None:
                sub = owner[1]
                if not cli.knows(sub) or sub in BUILTIN_SUBCOMMANDS:
                    continue  # the subcommand itself is reported (or is argument-parser's)
                have = cli.flags.get(sub, set()) | cli.hidden.get(sub, set())
                label = f"`{PROG} {sub}`" if sub else f"`{PROG}`"
                if m.name not in have:
                    problems.append((*where, f"names flag `{m.name}` of {label}, which it does not have"))
                elif docs:
                    documented_flags.add((sub, m.name))
                continue
            if m.name in all_flags:
                if docs:
                    generic_flags.add(m.name)
            elif (owner is None or owner[1]) and m.name not in foreign.get(m.file, set()):
                problems.append((*where, f"names flag `{m.name}`, which no subcommand has"))
        elif m.kind == "section":
            path = m.name
            if not cfg.is_table(path) and not (path.count(".") == 0 and path in cfg.tables[""]):
                problems.append((*where, f"names config section [{path}], which does not exist"))
            elif docs:
                documented_sections.add(path)
        elif m.kind == "key":
            path = m.owner
            if not cfg.is_table(path):
                problems.append((*where, f"names config key [{path}] {m.name}, but there is no section [{path}]"))
            elif m.name not in cfg.tables[path]:
                problems.append((*where, f"names config key [{path}] {m.name}, which does not exist"))
            elif docs:
                documented_keys.add((path, m.name))
                documented_sections.add(path)
                if cfg.is_table(join(path, m.name)):
                    documented_sections.add(join(path, m.name))

    out = [f"{f}:{ln}: {msg}" for f, ln, msg in sorted(set(problems), key=lambda p: (p[0], p[1], p[2]))]
    for sub in cli.subcommands:
        if sub not in documented_subs:
            out.append(f"subcommand `{PROG} {sub}` is not documented")
    for sub in sorted(cli.flags):
        if sub in BUILTIN_SUBCOMMANDS:
            continue
        for flag in sorted(cli.flags[sub]):
            if (sub, flag) not in documented_flags and flag not in generic_flags:
                label = f"`{PROG} {sub}`" if sub else f"`{PROG}`"
                out.append(f"flag `{flag}` of {label} is not documented")
    for s in cfg.sections():
        if s not in documented_sections:
            out.append(f"config section [{s}] is not documented")
    for path, key in cfg.leaves():
        if path and (path, key) not in documented_keys:
            out.append(f"config key [{path}] {key} is not documented")
    return out


def summary(cli: CLI, cfg: Config) -> str:
    nflags = sum(len(f) for s, f in cli.flags.items() if s not in BUILTIN_SUBCOMMANDS)
    nkeys = len([1 for p, _ in cfg.leaves() if p])
    return (f"docs check: {len(cli.subcommands)} subcommands, {nflags} flags, {nkeys} config keys"
            " — all documented, none invented")


def main(argv: list[str], root: str | None = None) -> int:
    root = root or os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    if argv[1:2] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    binary = argv[1] if len(argv) > 1 else os.path.join(root, ".build", "debug", PROG)
    if not os.access(binary, os.X_OK):
        print(f"check-docs: {binary} is not an executable; build it with `swift build --product {PROG}`", file=sys.stderr)
        return 2
    try:
        cli = read_cli(binary)
        cfg = read_config(binary)
    except (ProbeError, OSError, subprocess.SubprocessError) as e:
        print(f"check-docs: cannot read the truth from {binary}: {e}", file=sys.stderr)
        return 2
    if not cli.subcommands:
        print(f"check-docs: {binary} reports no subcommands", file=sys.stderr)
        return 2
    problems = check(cli, cfg, scan_files(root, cli, cfg))
    for p in problems:
        print(p)
    if problems:
        print(f"docs check: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(summary(cli, cfg))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
