"""Plugin tests: a real redis-server (session fixture) for the rate-limiting redis policy."""

from __future__ import annotations

from redis_fixture import redis_server  # noqa: F401  (fixture, from tests/)
