"""MkDocs hook: add the generated reference pages (options, CLI) to every build."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

sys.path.insert(0, str(Path(__file__).parent))

import gen_reference  # noqa: E402


def on_files(files: Files, config: Any) -> Files:
    for name, make in gen_reference.PAGES.items():
        files.append(File.generated(config, f"reference/{name}", content=make()))
    return files
