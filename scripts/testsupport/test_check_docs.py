"""Self-test of scripts/check-docs.py on small synthetic inputs: the truth is extracted right
(argument-parser's JSON dump and help text, the config loader's unknown-key answers), and an
invented subcommand, flag or config key IS reported, so the checker can fail.

python3 -m unittest scripts/testsupport/test_check_docs.py  (stdlib only; no Swift build needed:
a fake binary written in Python stands in for spotifyd-etl)
"""
import importlib.util
import json
import os
import sys
import tempfile
import textwrap
import tomllib
import unittest

unittest.TestCase.maxDiff = None

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "check-docs.py")

_spec = importlib.util.spec_from_file_location("check_docs", SCRIPT)
cd = importlib.util.module_from_spec(_spec)
sys.modules["check_docs"] = cd
_spec.loader.exec_module(cd)


def arg(kind, *longs, short=None, shown=True):
    names = ([{"kind": "short", "name": short}] if short else []) + [{"kind": "long", "name": n} for n in longs]
    return {"kind": kind, "names": names, "shouldDisplay": shown}


BUILTINS = [arg("flag", "version"), arg("flag", "help", short="h")]
DUMP = {"serializationVersion": 0, "command": {
    "commandName": "spotifyd-etl", "arguments": BUILTINS, "subcommands": [
        {"commandName": "run", "arguments": [arg("option", "config"), arg("flag", "once"),
                                             arg("option", "secret-knob", shown=False)] + BUILTINS},
        {"commandName": "status", "arguments": [arg("option", "socket"), arg("flag", "json"),
                                                {"kind": "positional", "valueName": "x"}] + BUILTINS},
        {"commandName": "help", "arguments": [{"kind": "positional", "valueName": "subcommands"}] + BUILTINS},
    ]}}

# What the fake loader accepts: mirrors ConfigLoader's shape (a required playlists array).
ALLOWED = {"": ["spotify", "playlists", "sink", "metrics"],
           "spotify": ["auth", "market"], "playlists": ["id", "interval"],
           "sink": ["kind", "max_bytes", "s3"], "sink.s3": ["bucket"], "metrics": ["interval", "listen"]}
ARRAYS = {"playlists"}


def fake_loader(text: str) -> str:
    """Answers like `spotifyd-etl check-config`: the first problem only, unknown keys first."""
    f = "/tmp/probe.toml"
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return f"{f}: line 1, column 1: TOML syntax error: ...\n"

    def unknown(path, table):
        allowed = ALLOWED[path]
        for k in sorted(table):
            if k not in allowed:
                dotted = f"{path}.{k}" if path else k
                return f"{f}: {dotted}: unknown key; allowed here: {', '.join(allowed)}\n"
        return None

    err = unknown("", doc)
    if err:
        return err
    for s in ALLOWED[""]:
        if s not in doc or s == "playlists":
            continue
        if not isinstance(doc[s], dict):
            return f"{f}: {s}: expected a table, got an integer\n"
        err = unknown(s, {k: v for k, v in doc[s].items()})
        if err:
            return err
        for k, v in doc[s].items():
            sub = f"{s}.{k}"
            if isinstance(v, dict):
                if sub not in ALLOWED:
                    return f"{f}: {sub}: expected a string, got a table\n"
                err = unknown(sub, v)
                if err:
                    return err
    pl = doc.get("playlists")
    if not isinstance(pl, list) or not pl:
        return f"{f}: playlists: no playlists configured; add at least one [[playlists]] table with an id\n"
    for i, e in enumerate(pl):
        if isinstance(e, dict):
            for k in sorted(e):
                if k not in ALLOWED["playlists"]:
                    return f"{f}: playlists[{i}].{k}: unknown key (did you mean \"id\"?); allowed here: id, interval\n"
    return "ok\n"


def truth():
    return cd.cli_from_dump(DUMP), cd.probe_config(fake_loader)


def scan(files: dict[str, str]) -> list[str]:
    """Runs the whole check over synthetic files {relative path: text}."""
    cli, cfg = truth()
    with tempfile.TemporaryDirectory() as root:
        for rel, text in files.items():
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        return cd.check(cli, cfg, cd.scan_files(root, cli, cfg))


GOOD_README = textwrap.dedent("""\
    # tool

    ```sh
    sudo spotifyd-etl run --config /etc/x.toml --once   # poll once
    spotifyd-etl status --json
    scripts/chaos --profile ci --keep
    ```

    Every control command takes `--socket PATH`. `spotifyd-etl is not running` is a message;
    back up `state.db`; `playlists.public` is a column. See `spotifyd-etl help <subcommand>`.

    ## `[sink]`

    | key | rules |
    |---|---|
    | `kind` | `"local"` or `"s3"` |
    | `max_bytes` | size |

    | section | keys |
    |---|---|
    | `[spotify]` | `auth` (`client_credentials` or `refresh_token`), `market` |
    """)

GOOD_SAMPLE = textwrap.dedent("""\
    # Secrets: for auth = "refresh_token", SPOTIFY_REFRESH_TOKEN) into systemd credentials
    [[playlists]]
    id = "x"
    # interval = "1h"
    [sink.s3]
    # bucket = "b"
    [metrics]
    interval = "60s"
    # Prometheus. Unset means off.
    # listen = "127.0.0.1:9464"
    """)


class TruthTest(unittest.TestCase):
    def test_dump_help(self):
        cli = cd.cli_from_dump(DUMP)
        self.assertEqual(cli.subcommands, ["run", "status"])
        self.assertEqual(cli.flags["run"], {"--config", "--once"})
        self.assertEqual(cli.hidden["run"], {"--secret-knob"})
        self.assertEqual(cli.flags["status"], {"--socket", "--json"})
        self.assertEqual(cli.flags[""], set())

    def test_help_text_fallback(self):
        root = textwrap.dedent("""\
            OVERVIEW: x

            USAGE: spotifyd-etl <subcommand>

            OPTIONS:
              --version               Show the version.
              -h, --help              Show help information.

            SUBCOMMANDS:
              run                     Run the daemon (or, with --once, poll every playlist
                                      once, flush and exit).
              check-config            Check the config file.

              See 'spotifyd-etl help <subcommand>' for detailed help.
            """)
        run = textwrap.dedent("""\
            USAGE: spotifyd-etl run [--config <config>] [--once]

            OPTIONS:
              --config <config>       Config file (TOML). (default:
                                      /etc/spotifyd-etl/spotifyd-etl.toml)
              --once                  Poll every playlist once.
              --max-wait <max-wait>   With --once: the longest wait.
              --version               Show the version.
              -h, --help              Show help information.
            """)
        self.assertEqual(cd.help_subcommands(root), ["run", "check-config"])
        cli = cd.cli_from_help(root, {"run": run, "check-config": "OPTIONS:\n  --online   x\n"})
        self.assertEqual(cli.flags["run"], {"--config", "--once", "--max-wait"})
        self.assertEqual(cli.flags["check-config"], {"--online"})

    def test_unknown_key_line(self):
        line = '/tmp/p.toml: sink.max_byte: unknown key (did you mean "max_bytes"?); allowed here: kind, max_bytes'
        self.assertEqual(cd.parse_unknown_key(line), ("sink.max_byte", ["kind", "max_bytes"]))
        self.assertEqual(cd.parse_unknown_key("/tmp/p.toml: zz: unknown key; allowed here: a, b"), ("zz", ["a", "b"]))
        self.assertIsNone(cd.parse_unknown_key("/tmp/p.toml: sink.kind: unknown sink kind"))

    def test_probe_asks_the_loader(self):
        cfg = cd.probe_config(fake_loader)
        self.assertEqual(cfg.tables, ALLOWED)
        self.assertEqual(cfg.arrays, ARRAYS)
        self.assertIn(("sink", "max_bytes"), cfg.leaves())
        self.assertNotIn(("sink", "s3"), cfg.leaves())   # a sub-table, not a key
        self.assertIn(("sink.s3", "bucket"), cfg.leaves())

    def test_probe_fails_loudly_on_an_unexpected_answer(self):
        with self.assertRaises(cd.ProbeError):
            cd.probe_config(lambda text: "ok\n")


class CheckTest(unittest.TestCase):
    def test_true_docs_pass(self):
        problems = scan({"README.md": GOOD_README, "etc/spotifyd-etl.toml": GOOD_SAMPLE})
        self.assertEqual(problems, [])

    def test_invented_subcommand_is_reported(self):
        problems = scan({"README.md": GOOD_README + "\nRender with `spotifyd-etl snowflake-ddl`.\n",
                         "etc/spotifyd-etl.toml": GOOD_SAMPLE})
        self.assertEqual(problems, ["README.md:23: names subcommand `snowflake-ddl`, which does not exist"])

    def test_invented_subcommand_in_etc_sql_comment_is_reported(self):
        problems = scan({"README.md": GOOD_README, "etc/spotifyd-etl.toml": GOOD_SAMPLE,
                         "etc/snowflake/x.sql": "-- Render with `spotifyd-etl snowflake-ddl`.\nSELECT 1;\n"})
        self.assertEqual(problems, ["etc/snowflake/x.sql:1: names subcommand `snowflake-ddl`, which does not exist"])

    def test_invented_flag_is_reported(self):
        extra = textwrap.dedent("""
            ```sh
            spotifyd-etl status --jsn \\
                --verbose
            ```

            Then `spotifyd-etl run` with `--dry-run`; `run --onse` is a typo too.
            """)
        problems = scan({"README.md": GOOD_README + extra, "etc/spotifyd-etl.toml": GOOD_SAMPLE})
        self.assertEqual(problems, [
            "README.md:24: names flag `--jsn` of `spotifyd-etl status`, which it does not have",
            "README.md:25: names flag `--verbose` of `spotifyd-etl status`, which it does not have",
            "README.md:28: names flag `--dry-run` of `spotifyd-etl run`, which it does not have",
            "README.md:28: names flag `--onse` of `spotifyd-etl run`, which it does not have",
        ])

    def test_unattributed_unknown_flag_next_to_an_invocation_is_reported(self):
        extra = "\nRun `spotifyd-etl status` (add `--color`).\n"
        problems = scan({"README.md": GOOD_README + extra, "etc/spotifyd-etl.toml": GOOD_SAMPLE})
        self.assertEqual(problems, ["README.md:23: names flag `--color` of `spotifyd-etl status`, which it does not have"])
        extra = "\nThe `spotifyd-etl status` command; elsewhere, `--colour` is used.\n\n`--keep` keeps it.\n"
        problems = scan({"README.md": GOOD_README + extra, "etc/spotifyd-etl.toml": GOOD_SAMPLE})
        self.assertEqual(problems, ["README.md:23: names flag `--colour` of `spotifyd-etl status`, which it does not have"])

    def test_invented_config_keys_are_reported(self):
        extra = textwrap.dedent("""
            Set `[sink] max_byte = "1MiB"`, `sink.kind`, `metrics.port` and `[snowflake]`.

            ```toml
            [spotify]
            markets = "US"
            ```
            """)
        sample = GOOD_SAMPLE + '# prefix = "x/"   # commented out, still must exist\n'
        problems = scan({"README.md": GOOD_README + extra, "etc/spotifyd-etl.toml": sample})
        self.assertEqual(problems, [
            "README.md:23: names config key [metrics] port, which does not exist",
            "README.md:23: names config key [sink] max_byte, which does not exist",
            "README.md:23: names config section [snowflake], which does not exist",
            "README.md:27: names config key [spotify] markets, which does not exist",
            "etc/spotifyd-etl.toml:11: names config key [metrics] prefix, which does not exist",
        ])

    def test_missing_docs_are_reported(self):
        readme = GOOD_README.replace("spotifyd-etl status --json", "true").replace("| `max_bytes` | size |\n", "")
        sample = GOOD_SAMPLE.replace('# listen = "127.0.0.1:9464"\n', "")
        problems = scan({"README.md": readme, "etc/spotifyd-etl.toml": sample})
        self.assertEqual(problems, [
            "subcommand `spotifyd-etl status` is not documented",
            "flag `--json` of `spotifyd-etl status` is not documented",
            "config key [metrics] listen is not documented",
            "config key [sink] max_bytes is not documented",
        ])

    def test_sample_comments_document_keys_but_subcommands_need_docs(self):
        readme = GOOD_README.replace("sudo spotifyd-etl run", "sudo true").replace(
            "spotifyd-etl status --json", "true")
        sample = GOOD_SAMPLE + "# Socket for `spotifyd-etl status --json` and `spotifyd-etl run --once`.\n"
        problems = scan({"README.md": readme, "etc/spotifyd-etl.toml": sample})
        self.assertIn("subcommand `spotifyd-etl run` is not documented", problems)
        self.assertIn("subcommand `spotifyd-etl status` is not documented", problems)


FAKE_BINARY = """\
#!{python}
import json, sys
sys.path.insert(0, {here!r})
import test_check_docs as t
if sys.argv[1:] == ["--experimental-dump-help"]:
    print(json.dumps(t.DUMP))
elif sys.argv[1:2] == ["check-config"]:
    text = open(sys.argv[sys.argv.index("--config") + 1]).read()
    out = t.fake_loader(text)
    sys.stderr.write(out)
    sys.exit(0 if out == "ok\\n" else 78)
else:
    sys.exit(64)
"""


class MainTest(unittest.TestCase):
    """The command line end to end, with a fake binary: exit 1 and one line per problem, or the
    summary and exit 0."""

    def run_main(self, readme: str):
        import contextlib
        import io
        with tempfile.TemporaryDirectory() as root:
            binary = os.path.join(root, "fake-spotifyd-etl")
            with open(binary, "w") as f:
                f.write(FAKE_BINARY.format(python=sys.executable, here=HERE))
            os.chmod(binary, 0o755)
            for rel, text in {"README.md": readme, "etc/spotifyd-etl.toml": GOOD_SAMPLE}.items():
                os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
                with open(os.path.join(root, rel), "w") as f:
                    f.write(text)
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = cd.main(["check-docs.py", binary], root=root)
            return rc, out.getvalue()

    def test_pass(self):
        rc, out = self.run_main(GOOD_README)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out, "docs check: 2 subcommands, 4 flags, 9 config keys — all documented, none invented\n")

    def test_fail(self):
        rc, out = self.run_main(GOOD_README + "\n`spotifyd-etl snowflake-ddl --bucket b`\n")
        self.assertEqual(rc, 1)
        self.assertEqual(out, "README.md:23: names subcommand `snowflake-ddl`, which does not exist\n")

    def test_missing_binary(self):
        self.assertEqual(cd.main(["check-docs.py", "/nonexistent/spotifyd-etl"], root=HERE), 2)


if __name__ == "__main__":
    unittest.main()
