#!/usr/bin/env python3
"""Renders etc/snowflake/spotifyd-etl.sql for one bucket, prefix and integration.

Usage:
  scripts/snowflake/render_ddl.py --bucket BUCKET --prefix PREFIX --integration NAME \
      [--database SPOTIFYD_ETL] [--schema PUBLIC] [--template PATH] [--output FILE]

Substitution is plain `{{name}}` text replacement, so any other tool can render the same
template identically. Because the values go into SQL verbatim, they are validated first:
identifiers must be plain Snowflake identifiers, the bucket an S3 bucket name, the prefix a
key prefix without quotes or backslashes. The
prefix is normalised to end in '/' (or to be empty) and never to start with '/', so the stage
URL is s3://bucket/prefix/ exactly as the daemon writes keys under it.

Python standard library only. Exit status 2 (argparse) or 64 for a bad value.
"""
from __future__ import annotations

import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TEMPLATE = os.path.normpath(os.path.join(HERE, "..", "..", "etc", "snowflake", "spotifyd-etl.sql"))
PLACEHOLDERS = ("bucket", "prefix", "integration", "database", "schema")

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")
# S3 bucket names: 3-63 chars, lowercase letters, digits, dots and hyphens, alphanumeric ends.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX_BAD = re.compile(r"['\"\\\x00-\x1f\x7f]")


class RenderError(ValueError):
    """A value that cannot be placed into the SQL safely."""


def normalize_prefix(prefix: str) -> str:
    p = prefix.strip("/")
    if _PREFIX_BAD.search(p):
        raise RenderError(f"prefix {prefix!r} contains a quote, backslash or control character")
    if "//" in p:
        raise RenderError(f"prefix {prefix!r} contains an empty path segment")
    return p + "/" if p else ""


def validate(values: dict[str, str]) -> dict[str, str]:
    out = dict(values)
    for name in ("integration", "database", "schema"):
        if not _IDENT.match(out[name]):
            raise RenderError(f"--{name} {out[name]!r} is not a plain Snowflake identifier ([A-Za-z_][A-Za-z0-9_$]*)")
    if not _BUCKET.match(out["bucket"]) or ".." in out["bucket"]:
        raise RenderError(f"--bucket {out['bucket']!r} is not a valid S3 bucket name")
    out["prefix"] = normalize_prefix(out["prefix"])
    return out


def render(template: str, values: dict[str, str]) -> str:
    """Replaces every `{{name}}`; fails if a placeholder is left over."""
    v = validate(values)
    text = template
    for name in PLACEHOLDERS:
        text = text.replace("{{" + name + "}}", v[name])
    left = re.findall(r"\{\{[^}]*\}\}", text)
    if left:
        raise RenderError(f"template has unknown placeholders: {sorted(set(left))}")
    return text


def load_template(path: str = DEFAULT_TEMPLATE) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--prefix", required=True, help="key prefix the daemon writes under ('' for none)")
    ap.add_argument("--integration", required=True, help="storage integration name")
    ap.add_argument("--database", default="SPOTIFYD_ETL")
    ap.add_argument("--schema", default="PUBLIC")
    ap.add_argument("--template", default=DEFAULT_TEMPLATE)
    ap.add_argument("--output", "-o", help="write here instead of stdout")
    args = ap.parse_args(argv)
    try:
        sql = render(load_template(args.template), {n: getattr(args, n) for n in PLACEHOLDERS})
    except RenderError as e:
        print(f"render_ddl: {e}", file=sys.stderr)
        return 64
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(sql)
    else:
        sys.stdout.write(sql)
    return 0


if __name__ == "__main__":
    sys.exit(main())
