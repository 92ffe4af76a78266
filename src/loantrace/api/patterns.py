"""The shapes of hex and text inputs, as types that carry them into the OpenAPI schema.

Each hex pattern admits exactly what its parser in `domain.hexcodec` accepts: an optional
`0x` (or `0X`) prefix, then a fixed number of hex digits in either case. The parsers stay the
validation the routes rely on; these types refuse a malformed value before it reaches them
and tell clients (and schemathesis) what is valid. Two rules are beyond a regex, so they are
named formats, each described where it is used:
- `eth-address`: an address written in mixed case must carry a valid EIP-55 checksum;
- `printable`: text of printable characters (Python's `str.isprintable`: no control, format,
  private-use, surrogate or unassigned code points, no separator but the space), not blank.

Use them as `Annotated[Bytes32, Path(description=...)]`, `Bytes32 | None = Field(None, ...)`.
The `Parsed*` variants only document the pattern and leave the refusal to the parser, for
values whose parser error must name where they sit (`agreements[3].digest` in a batch).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic.json_schema import WithJsonSchema

BYTES32 = r"^(?:0[xX])?[0-9a-fA-F]{64}$"
ZERO32 = r"^(?:0[xX])?0{64}$"
ADDRESS = r"^(?:0[xX])?[0-9a-fA-F]{40}$"
SIGNATURE = r"^(?:0[xX])?[0-9a-fA-F]{130}$"
ADDRESS_FORMAT = "eth-address"
EIP55 = "20 bytes hex; mixed case must be a valid EIP-55 checksum"
PRINTABLE_FORMAT = "printable"
PRINTABLE = "printable characters only (no control characters), not blank"


def _nonzero(value: str) -> str:
    if re.fullmatch(ZERO32, value):
        raise ValueError("must not be zero (32 zero bytes)")
    return value


Bytes32 = Annotated[str, Field(pattern=BYTES32)]
"""32 bytes (a digest, id, commitment or tx hash) as 64 hex digits."""
NonZeroBytes32 = Annotated[
    str,
    Field(pattern=BYTES32, json_schema_extra={"not": {"pattern": ZERO32}}),
    AfterValidator(_nonzero),
]
"""32 bytes that must not all be zero (an account commitment the FundFlow contract takes)."""
Address = Annotated[str, Field(pattern=ADDRESS, json_schema_extra={"format": ADDRESS_FORMAT})]
"""A 20-byte account address as 40 hex digits."""
Signature = Annotated[str, Field(pattern=SIGNATURE)]
"""A 65-byte (r, s, v) signature as 130 hex digits."""

ParsedBytes32 = Annotated[str, WithJsonSchema({"type": "string", "pattern": BYTES32})]
ParsedAddress = Annotated[
    str, WithJsonSchema({"type": "string", "pattern": ADDRESS, "format": ADDRESS_FORMAT})
]
ParsedSignature = Annotated[str, WithJsonSchema({"type": "string", "pattern": SIGNATURE})]

PrintableText = Annotated[str, Field(json_schema_extra={"format": PRINTABLE_FORMAT})]
"""Text the services check is printable (`InvalidInput` if not); the format documents it."""
