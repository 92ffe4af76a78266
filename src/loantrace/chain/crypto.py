"""Which secp256k1 implementation signs and recovers: native (libsecp256k1) or pure Python.

eth-keys falls back to a pure-Python backend when `coincurve` (libsecp256k1) cannot be
imported: about 50 times slower per signature recovery (10.7 ms against 0.2 ms measured here),
which caps verification and notarisation at a few dozen per second. Production refuses it.
"""

from __future__ import annotations

import logging

from eth_keys.main import KeyAPI

from loantrace.domain.errors import ConfigurationError

log = logging.getLogger(__name__)


def backend_name() -> str:
    """Return the class name of the secp256k1 backend eth-keys uses."""
    return type(KeyAPI().backend).__name__


def native() -> bool:
    """Return whether signatures go through libsecp256k1 (coincurve)."""
    return backend_name() == "CoinCurveECCBackend"


def require_native(mode: str) -> None:
    """Refuse prod on the pure-Python fallback; warn in dev."""
    if native():
        return
    message = (
        f"secp256k1 runs on eth-keys' {backend_name()}, not libsecp256k1: install coincurve "
        "(`pip install coincurve`); signatures are ~50x slower without it"
    )
    if mode == "prod":
        raise ConfigurationError(message)
    log.warning(message)
