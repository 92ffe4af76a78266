"""loantrace: notarise signed loan agreements on an EVM chain and verify them from the chain."""

import importlib.util
import os

__version__ = "0.1.0"

# Keccak-256 through safe-pysha3 (C, about 0.7 us a hash) instead of eth-hash's first choice,
# pycryptodome through cffi (about 3.9 us): a notarised document takes some 25 hashes. eth-hash
# picks its backend at the first hash, after this; an explicit choice stands.
if importlib.util.find_spec("sha3") is not None:
    os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
