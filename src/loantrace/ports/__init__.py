"""Ports: the plain data and the interfaces use cases need from storage.

`services/` depend on these, `store/` implements them, and tests may implement them with
fakes; neither services nor store import each other through them.
"""
