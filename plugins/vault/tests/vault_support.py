"""Shared test data (imported by name: pytest puts this folder on sys.path)."""

from __future__ import annotations

# Looks like a simulator-issued KSeF token: the value no file, message or output may contain.
TOKEN = "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5261040828|" + "c0ffee" * 10
