"""azure-functions: invoke an Azure Function instead of the upstream (carried, not run).

Schema from Kong 3.9's ``kong/plugins/azure-functions/schema.lua``. The local runtime does not
call Azure, and the function's answer would replace the upstream's, so requests are refused.
"""

from __future__ import annotations

from ..model.schema import Boolean, Number, Record, String
from .base import PluginSpec
from .not_run import Refuses

CONFIG = Record([
    ("timeout", Number(default=600000, description="Timeout in milliseconds before closing a connection to the Azure Functions server.")),
    ("keepalive", Number(default=60000, description="Time in milliseconds during which an idle connection to the Azure Functions server lives before being closed.")),
    ("https", Boolean(default=True, description="Use of HTTPS to connect with the Azure Functions server.")),
    ("https_verify", Boolean(default=False, description="Set to `true` to authenticate the Azure Functions server.")),
    ("apikey", String(secret=True, description="The apikey to access the Azure resources. If provided, it is injected as the `x-functions-key` header.")),
    ("clientid", String(secret=True, description="The `clientid` to access the Azure resources. If provided, it is injected as the `x-functions-clientid` header.")),
    ("appname", String(required=True, description="The Azure app name.")),
    ("hostdomain", String(required=True, default="azurewebsites.net", description="The domain where the function resides.")),
    ("routeprefix", String(default="api", description="Route prefix to use.")),
    ("functionname", String(required=True, description="Name of the Azure function to invoke.")),
], nullable=False)

PLUGIN = PluginSpec(
    name="azure-functions",
    priority=749,
    config=CONFIG,
    description="Invoke an Azure Function and answer with its result instead of the upstream's.",
    handler=Refuses,
    any_protocol=True,
    not_run="it invokes an Azure Function, and the local runtime does not call Azure",
)
