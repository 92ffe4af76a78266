"""Native secp256k1 is checked at start: prod refuses the pure-Python fallback, dev warns."""

from __future__ import annotations

import logging

import pytest
from eth_keys.backends import NativeECCBackend
from eth_keys.main import KeyAPI

from loantrace.chain import crypto
from loantrace.domain.errors import ConfigurationError


def test_the_installed_backend_is_libsecp256k1() -> None:
    assert crypto.native(), crypto.backend_name()
    crypto.require_native("prod")  # passes


def test_prod_refuses_and_dev_warns_on_the_pure_python_fallback(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The fallback is real (eth-keys' own pure-Python backend), only selected by hand here:
    # uninstalling coincurve inside a test run is not possible.
    monkeypatch.setattr(crypto, "KeyAPI", lambda: KeyAPI(NativeECCBackend))
    assert not crypto.native()
    with pytest.raises(ConfigurationError, match="coincurve"):
        crypto.require_native("prod")
    with caplog.at_level(logging.WARNING, logger="loantrace.chain.crypto"):
        crypto.require_native("dev")
    assert "NativeECCBackend" in caplog.text


def test_keccak_runs_on_safe_pysha3_once_loantrace_is_imported() -> None:
    import os
    import subprocess
    import sys

    probe = (
        "import loantrace\n"
        "from eth_utils.crypto import keccak\n"
        "import eth_hash.auto\n"
        "assert keccak(b'').hex() == "
        "'c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470'\n"
        "print(type(eth_hash.auto.keccak.hasher.__self__).__name__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ETH_HASH_BACKEND"}
    found = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "PySha3Backend"
