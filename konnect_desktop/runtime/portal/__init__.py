"""The local Dev Portal: developer accounts, registrations, and the web pages that serve them.

``accounts`` (developers, apps, registrations, settings in the store's side tables), ``service``
(request access / approve / reject / revoke / new key, over the catalog and
``runtime.registration``), ``server`` (the aiohttp pages) and ``views`` (their HTML).
"""
