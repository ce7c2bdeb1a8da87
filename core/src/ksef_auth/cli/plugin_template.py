"""``ksef-auth plugin new NAME --kind store|source|signer``: a working plugin to start from.

It writes a package of its own (``ksef-auth-NAME/``): a pyproject with the entry point, the
component (a source reading a token file per client, a store sealing sessions in SQLite, or a
signer logging in with a KSeF token), the conformance kit wired into its tests with a login
against the simulator, the secret guard on, and a noxfile. Nothing in ksef-auth changes: the
package is found through its entry point once installed. The files come from
``plugin_templates/`` beside this module.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import click

__all__ = ["KINDS", "plugin", "render"]

KINDS = {
    "source": (
        "credential source",
        "KSeF tokens, one file per client in a folder.",
        'credential = {{ use = "{name}", folder = "tokens" }}   # tokens/5261040828.token',
    ),
    "store": (
        "session store",
        "Sessions sealed in an SQLite file, shared by this machine's processes.",
        'store = {{ use = "{name}", path = "sessions.db" }}',
    ),
    "signer": (
        "signer",
        "A KSeF token login, encrypted under KSeF's public key.",
        'signer = "{name}"',
    ),
}
_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


def _check_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    name = value.strip().lower().removeprefix("ksef-auth-")
    if not _NAME.fullmatch(name) or len(name) > 30:
        raise click.BadParameter(
            f"{value!r}: at most 30 lowercase letters and digits, words joined by '-'"
            " (e.g. acme-vault)"
        )
    return name


def render(name: str, kind: str) -> dict[str, str]:
    """The files of a new plugin (path inside the package: text)."""
    kind_text, summary, usage = KINDS[kind]
    from ksef_auth import __version__

    module = "ksef_auth_" + name.replace("-", "_")
    values = {
        "name": name,
        "dist": f"ksef-auth-{name}",
        "module": module,
        "core": ".".join(__version__.split(".")[:2]),
        "summary": summary,
        "kind_text": kind_text,
        "usage": usage.format(name=name),
    }
    root = resources.files("ksef_auth.cli") / "plugin_templates"
    files: dict[str, str] = {}
    for folder, target in (
        ("common", ""),
        (f"{kind}/src", f"src/{module}/"),
        (f"{kind}/tests", "tests/"),
    ):
        for entry in sorted((root / folder).iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".tmpl"):
                text = entry.read_text(encoding="utf-8")
                for key, value in values.items():
                    text = text.replace("{{" + key + "}}", value)
                files[target + entry.name.removesuffix(".tmpl")] = text
    return files


@click.group()
def plugin() -> None:
    """Write your own plugin: a store, a credential source or a signer."""


@plugin.command("new")
@click.argument("name", callback=_check_name)
@click.option(
    "--kind", type=click.Choice(sorted(KINDS)), required=True, help="What the plugin provides."
)
@click.option(
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    show_default=True,
    help="Where to create the package's folder.",
)
def new(name: str, kind: str, directory: Path) -> None:
    """Create ksef-auth-NAME/: a working plugin of KIND, its tests running the conformance kit
    and a login against the simulator, ready for nox and for publishing."""
    target = directory / f"ksef-auth-{name}"
    if target.exists():
        raise click.UsageError(f"{target} already exists: choose another name or --directory")
    files = render(name, kind)
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    click.echo(f"created {target} ({KINDS[kind][0]} {name!r}):")
    for relative in files:
        click.echo(f"  {relative}")
    click.echo(f'next: cd {target} && pip install -e ".[test]" && pytest')
