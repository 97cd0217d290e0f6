"""grpc-web: let browsers call gRPC services through the gRPC-Web protocol (carried, not run).

Schema from Kong 3.9's ``kong/plugins/grpc-web/schema.lua``. The local runtime does not translate
gRPC-Web to gRPC, so requests are refused rather than passed to the upstream untranslated.
"""

from __future__ import annotations

from ..model.schema import Boolean, Record, String
from .base import PluginSpec
from .not_run import Refuses

CONFIG = Record([
    ("proto", String(description="If present, describes the gRPC types and methods. Required to support payload transcoding. When absent, the web client must use application/grpw-web+proto content.")),
    ("pass_stripped_path", Boolean(description="If set to `true` causes the plugin to pass the stripped request path to the upstream gRPC service.")),
    ("allow_origin_header", String(default="*", description="The value of the `Access-Control-Allow-Origin` header in the response to the gRPC-Web client.")),
], nullable=False)

PLUGIN = PluginSpec(
    name="grpc-web",
    priority=3,
    config=CONFIG,
    description="Let browser clients call gRPC services over gRPC-Web.",
    handler=Refuses,
    any_protocol=True,
    not_run="it translates gRPC-Web to gRPC, which the local runtime does not do",
)
