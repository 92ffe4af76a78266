"""Chain adapters: node connection, signer, contract clients, compiled artifacts."""
