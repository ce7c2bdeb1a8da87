"""What plugins share is public API: no plugin imports a private (``_``) module or name of
another distribution (core included), so core and each plugin can change their insides freely."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def private_imports(source: Path, own: str) -> list[str]:
    """``file:line: import`` for each private import of another distribution's module."""
    found = []
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"), str(source))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules, names = [node.module], [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            modules, names = [alias.name for alias in node.names], []
        else:
            continue
        for module in modules:
            top = module.split(".")[0]
            if not top.startswith("ksef_auth") or top == own:
                continue
            bad = [p for p in module.split(".") if p.startswith("_")]
            bad += [n for n in names if n.startswith("_") and not n.startswith("__")]
            if bad:
                found.append(f"{source.relative_to(ROOT)}:{node.lineno}: {module} {bad}")
    return found


def test_plugins_import_only_public_names_of_other_distributions() -> None:
    found: list[str] = []
    for package in sorted(ROOT.glob("plugins/*/src/ksef_auth_*")) + [
        ROOT / "docs" / "example-plugin" / "src" / "ksef_auth_command"
    ]:
        for source in sorted(package.rglob("*.py")):
            found += private_imports(source, package.name)
    assert not found, "private imports across distributions:\n" + "\n".join(found)


def test_core_imports_no_plugin() -> None:
    found = []
    for source in sorted((ROOT / "core" / "src" / "ksef_auth").rglob("*.py")):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            modules = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            found += [f"{source.name}: {m}" for m in modules if m.startswith("ksef_auth_")]
    assert not found, found
