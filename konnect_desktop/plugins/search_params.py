"""``SearchParams``: a query that keeps its arguments' order when serialized.

Its own module, and not compiled with the proxy (konnect_desktop/native.py): a class that
subclasses multidict's C ``MultiDict`` crashes multidict when mypyc builds the subclass, so it
stays a plain-Python class that the compiled modules use.
"""

from __future__ import annotations

from multidict import MultiDict


class SearchParams(MultiDict[str]):
    """A query whose arguments keep their order when serialized: what Kong's
    ``kong.service.request.clear_query_arg`` leaves (resty.ada's URLSearchParams), as opposed to
    ``set_query``, which sorts. ``base.encode_args`` writes it the WHATWG urlencoded way."""
