"""Development secrets: random per database, never a fixed key anyone could read here.

Dev mode needs keys at rest (webhook secrets, personal data) without asking the developer
for any. Each database gets its own random 32-byte secret, kept in a file beside it (mode
0600); processes sharing the database share the file. An in-memory database gets a secret
that lives as long as the process. Production refuses dev mode's path altogether.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from loantrace.domain.errors import ConfigurationError

SECRET_LENGTH = 32
_process_secret = secrets.token_bytes(SECRET_LENGTH)


def secret_file(database_url: str) -> Path | None:
    """Return where a database's dev secret lives (None: in memory, per process)."""
    if database_url == "sqlite://" or ":memory:" in database_url:
        return None
    if database_url.startswith("sqlite:///"):
        return Path(database_url.removeprefix("sqlite:///") + ".devkey")
    home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    name = hashlib.sha256(database_url.encode()).hexdigest()[:24]
    return home / "loantrace" / "dev-keys" / f"{name}.key"


def dev_secret(database_url: str) -> bytes:
    """Return the database's random dev secret, creating it on first use."""
    path = secret_file(database_url)
    if path is None:
        return _process_secret
    with contextlib.suppress(FileNotFoundError):
        return _read(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".devkey-")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(SECRET_LENGTH))
        with contextlib.suppress(FileExistsError):  # another process won the race: use its
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    return _read(path)


def derive(secret: bytes, purpose: str) -> bytes:
    """Return a 32-byte key for `purpose` derived from `secret` (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
        secret
    )


def fernet_key(secret: bytes) -> bytes:
    """Return the Fernet key (secrets at rest) derived from a dev secret."""
    return base64.urlsafe_b64encode(derive(secret, "loantrace fernet"))


def master_key_spec(secret: bytes) -> str:
    """Return a keyring spec with one master key (id `dev`) derived from a dev secret."""
    return "dev:" + base64.b64encode(derive(secret, "loantrace master key")).decode()


def _read(path: Path) -> bytes:
    value = path.read_bytes()
    if len(value) != SECRET_LENGTH:
        raise ConfigurationError(f"{path} is not a dev secret ({len(value)} bytes)")
    return value
