"""loantrace: notarise signed loan agreements on an EVM chain and verify them from the chain."""

__version__ = "0.1.0"
