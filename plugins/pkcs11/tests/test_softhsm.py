"""Whether SoftHSM2 is here: where it is not, this is the one line that says the pkcs11 tests
did not run, and why (conftest.py leaves them out)."""

from __future__ import annotations

import pytest
from hsm_support import NOT_INSTALLED, find_softhsm

if find_softhsm() is None:
    pytest.skip(NOT_INSTALLED, allow_module_level=True)


def test_softhsm2_is_installed() -> None:
    module, util = find_softhsm() or ("", "")
    assert module.endswith(".so") and util.endswith("softhsm2-util")
