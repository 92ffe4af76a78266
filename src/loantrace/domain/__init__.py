"""Pure domain logic: hashing, canonical JSON, EIP-712, Merkle trees. No I/O here."""
