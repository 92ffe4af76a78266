"""Where batch manifests are published and fetched: a folder, or any HTTP mirror.

A manifest is named by its SHA-256 (`0x…` hex), which the registry anchors with the batch
root, so a mirror needs no trust: whatever it serves is checked against the chain
(`domain.manifest.parse_manifest`). A folder holds `<sha256>.json` files; it can be synced to
any static host or object store. An HTTP mirror is a URL template with `{sha256}`, e.g.
`https://notary.example/v1/manifests/{sha256}` (this service's own route).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import httpx

from loantrace.domain.errors import InvalidInput
from loantrace.domain.hexcodec import to_hex
from loantrace.domain.manifest import MAX_MANIFEST_BYTES, Manifest


def publish_to_folder(folder: Path, manifest: Manifest) -> Path:
    """Write `manifest` as `<folder>/<sha256>.json`, atomically; an existing copy is kept."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{to_hex(manifest.sha256)}.json"
    if target.exists():
        return target
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".manifest-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(manifest.body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


class ManifestSource:
    """Fetch manifests by SHA-256 from folders and URL templates, first found wins."""

    def __init__(self, places: Sequence[str], *, timeout: float = 10.0) -> None:
        """`places` are folder paths or http(s) URL templates containing `{sha256}`."""
        for place in places:
            if place.startswith(("http://", "https://")) and "{sha256}" not in place:
                raise InvalidInput(f"a manifest URL needs a {{sha256}} placeholder: {place}")
        self._places = list(places)
        self._timeout = timeout

    def __bool__(self) -> bool:
        """Return whether any place is configured."""
        return bool(self._places)

    def fetch(self, sha256: bytes) -> bytes | None:
        """Return the bytes published under `sha256`, unchecked (the caller checks them)."""
        name = to_hex(sha256)
        for place in self._places:
            if place.startswith(("http://", "https://")):
                body = self._get(place.replace("{sha256}", name))
            else:
                path = Path(place) / f"{name}.json"
                body = path.read_bytes() if path.is_file() else None
            if body is not None and len(body) <= MAX_MANIFEST_BYTES:
                return body
        return None

    def _get(self, url: str) -> bytes | None:
        try:
            response = httpx.get(url, timeout=self._timeout, follow_redirects=False)
        except httpx.HTTPError:
            return None
        return response.content if response.status_code == 200 else None
