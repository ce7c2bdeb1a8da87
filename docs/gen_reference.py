"""Generate the reference pages from the code: options of every installed plugin, and the CLI.

The MkDocs hook (``docs/hooks.py``) calls this on every build, so the pages can never drift
from the code. Run it by hand to see the pages as files::

    python docs/gen_reference.py build/reference      # writes options.md and cli.md
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

KINDS = (
    ("credential_source", "Credential sources", "credential"),
    ("signer", "Signers", "signer"),
    ("session_store", "Session stores", "store"),
    ("key_store", "Key stores", "key-store"),
)


def _cell(value: Any) -> str:
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _code(value: Any) -> str:
    """Inline code in a table cell: backticks protect pipes, and HTML-escaping is not needed."""
    return f"`{str(value).replace('`', '')}`"


def _default(value: Any) -> str:
    if value is None or value == ():
        return ""
    return _code(f'"{value}"' if isinstance(value, str) else repr(value))


def options_markdown() -> str:
    """The option tables of every installed credential source, signer and session store."""
    from ksef_auth.manager import default_manager

    manager = default_manager()
    lines = [
        "# Option reference",
        "",
        "Generated from the option schemas of the plugins installed when these docs were built"
        " (`docs/gen_reference.py`). Each component is written in a strategy file as a name, or"
        ' as a table with `use = "NAME"` and its options. Options marked *secret* take only a'
        ' reference: `{ env = "VAR" }` or `{ file = "path" }`.',
        "",
    ]
    for kind, title, key in KINDS:
        registrations = manager.available(kind)  # type: ignore[arg-type]
        lines += [f"## {title}", ""]
        if not registrations:
            lines += ["None installed.", ""]
            continue
        for name, registration in registrations.items():
            lines += [f"### `{name}`", "", f"From plugin `{registration.plugin}`."]
            if registration.summary:
                lines += ["", _cell(registration.summary)]
            example = [f'use = "{name}"'] + [
                f"{o.name} = ..." for o in registration.options if o.required
            ]
            lines += ["", "```toml", f"{key} = {{ {', '.join(example)} }}", "```", ""]
            if not registration.options:
                lines += ["No options.", ""]
                continue
            lines += [
                "| option | type | required | default | secret | meaning |",
                "|---|---|---|---|---|---|",
            ]
            for o in registration.options:
                lines.append(
                    f"| `{o.name}` | {_code(o.type or 'any')} | {'yes' if o.required else ''}"
                    f" | {_default(o.default)} | {'yes' if o.secret else ''}"
                    f" | {_cell(o.help)} |"
                )
            lines.append("")
    return "\n".join(lines)


def _wrap(line: str, width: int = 88) -> str:
    """A shell command over several lines (``\\`` continued) so that none is wider than
    ``width`` and the code block fits the page."""
    rows: list[str] = []
    current = ""
    for word in line.split(" "):
        if current and len(current) + 1 + len(word) > width - 2:
            rows.append(current + " \\")
            current = "    " + word
        else:
            current = f"{current} {word}" if current else word
    rows.append(current)
    return "\n".join(rows)


def _commands(
    command: click.Command, ctx: click.Context
) -> list[tuple[click.Command, click.Context]]:
    found = [(command, ctx)]
    if isinstance(command, click.Group):
        for name in sorted(command.list_commands(ctx)):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                found += _commands(sub, click.Context(sub, info_name=name, parent=ctx))
    return found


def cli_markdown() -> str:
    """Every ``ksef-auth`` command: usage, help and options (plugin commands included)."""
    from ksef_auth.cli import EXIT_MEANINGS, build

    root = build()
    lines = [
        "# CLI reference",
        "",
        "Generated from the click commands (`docs/gen_reference.py`), including the commands of"
        " the plugins installed when these docs were built. Every command with what it prints:"
        " [the command line](../guide/cli.md).",
        "",
        "## Exit codes",
        "",
        "The one table of them (`ksef_auth.cli.EXIT_MEANINGS`); with `--json`, an error is also"
        ' printed on stdout as `{"ok": false, "error": {"type", "message", "exit_code"}}`.',
        "",
        "| code | meaning |",
        "|---|---|",
    ]
    for code, meaning in sorted(EXIT_MEANINGS.items()):
        lines.append(f"| {code} | {_cell(meaning)} |")
    lines += [
        "",
        "Every command that prints data takes `--json`; `-h` is `--help`. Colours are used only"
        " on a terminal, never with `NO_COLOR` set. No command prints a secret, except `token`"
        " (the access token alone) and `tokens create` (a new KSeF token, once, unless saved)."
        " Completion: `ksef-auth completion bash|zsh|fish`.",
        "",
    ]
    ctx = click.Context(root, info_name="ksef-auth")
    for command, command_ctx in _commands(root, ctx)[1:]:
        path = command_ctx.command_path
        depth = min(path.count(" ") + 1, 4)
        lines += [f"{'#' * depth} `{path}`", ""]
        help_text = (command.help or "").replace("\b\n", "").strip()
        if help_text:
            lines += [_cell(help_text.split("\n\n")[0]), ""]
            rest = help_text.split("\n\n")[1:]
            if rest:
                body = "\n\n".join(rest).replace("\\\n", " ")  # continued lines: one
                example_lines = [
                    ln for ln in body.splitlines() if ln.strip().startswith("ksef-auth")
                ]
                prose = [ln for ln in body.splitlines() if not ln.strip().startswith("ksef-auth")]
                if "".join(prose).strip():
                    lines += [_cell(" ".join(p.strip() for p in prose).strip()), ""]
                if example_lines:
                    shown = [_wrap("$ " + " ".join(ln.split())) for ln in example_lines]
                    lines += ["```console", *shown, "```", ""]
        pieces = " ".join(command.collect_usage_pieces(command_ctx))
        lines += ["```text", f"{path} {pieces}".rstrip(), "```", ""]
        records: list[tuple[str, str]] = []
        for param in command.get_params(command_ctx):
            if isinstance(param, click.Option) and param.name != "help":
                record = param.get_help_record(command_ctx)
                if record is not None:
                    records.append(record)
        if records:
            lines += ["| option | meaning |", "|---|---|"]
            for opts, text in records:
                lines.append(f"| {_code(opts)} | {_cell(text)} |")
            lines.append("")
    return "\n".join(lines)


PAGES = {"options.md": options_markdown, "cli.md": cli_markdown}


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "build/reference")
    out.mkdir(parents=True, exist_ok=True)
    for name, make in PAGES.items():
        (out / name).write_text(make() + "\n", encoding="utf-8")
        print(f"wrote {out / name}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
