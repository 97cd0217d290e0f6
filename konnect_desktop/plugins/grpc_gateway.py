"""grpc-gateway: serve a gRPC service as a JSON REST API (carried, not run).

Schema from Kong 3.9's ``kong/plugins/grpc-gateway/schema.lua``. The local runtime does not
transcode between JSON and gRPC, and the upstream would receive requests it cannot read, so
requests are refused.
"""

from __future__ import annotations

from ..model.schema import Record, String
from .base import PluginSpec
from .not_run import Refuses

CONFIG = Record([
    ("proto", String(description="Describes the gRPC types and methods.")),
], nullable=False)

PLUGIN = PluginSpec(
    name="grpc-gateway",
    priority=998,
    config=CONFIG,
    description="Expose a gRPC service as a REST/JSON API, transcoding requests and responses.",
    handler=Refuses,
    any_protocol=True,
    not_run="it transcodes REST/JSON to gRPC, which the local runtime does not do",
)
