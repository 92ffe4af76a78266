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
