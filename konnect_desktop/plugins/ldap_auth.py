"""ldap-auth: authenticate clients against an LDAP directory (carried, not run).

Schema from Kong 3.9's ``kong/plugins/ldap-auth/schema.lua``. The local runtime does not contact
LDAP servers; as an authentication plugin it must never let a request through unauthenticated,
so every request it applies to is refused (with the ``anonymous`` consumer too: granting it
without having tried the credentials would misrepresent what Kong does).
"""

from __future__ import annotations

from ..model import typedefs
from ..model.schema import Boolean, Conditional, Number, Record, String
from .base import PluginSpec
from .not_run import Refuses

CONFIG = Record([
    ("ldap_host", typedefs.host(required=True)),
    ("ldap_port", typedefs.port(required=True, default=389)),
    ("ldaps", Boolean(required=True, default=False, description="Set to `true` to connect using the LDAPS protocol (LDAP over TLS).  When `ldaps` is configured, you must use port 636. If the `ldap` setting is enabled, ensure the `start_tls` setting is disabled.")),
    ("start_tls", Boolean(required=True, default=False, description="Set it to `true` to issue StartTLS (Transport Layer Security) extended operation over `ldap` connection. If the `start_tls` setting is enabled, ensure the `ldaps` setting is disabled.")),
    ("verify_ldap_host", Boolean(required=True, default=False, description="Set to `true` to authenticate LDAP server. The server certificate will be verified according to the CA certificates specified by the `lua_ssl_trusted_certificate` directive.")),
    ("base_dn", String(required=True, description="Base DN as the starting point for the search; e.g., dc=example,dc=com")),
    ("attribute", String(required=True, description="Attribute to be used to search the user; e.g. cn")),
    ("cache_ttl", Number(required=True, default=60, description="Cache expiry time in seconds.")),
    ("hide_credentials", Boolean(required=True, default=False, description="An optional boolean value telling the plugin to hide the credential to the upstream server. It will be removed by Kong before proxying the request.")),
    ("timeout", Number(default=10000, description="An optional timeout in milliseconds when waiting for connection with LDAP server.")),
    ("keepalive", Number(default=60000, description="An optional value in milliseconds that defines how long an idle connection to LDAP server will live before being closed.")),
    ("anonymous", String(description="An optional string (consumer UUID or username) value to use as an “anonymous” consumer if authentication fails. If empty (default null), the request fails with an authentication failure `4xx`.")),
    ("header_type", String(default="ldap", description="An optional string to use as part of the Authorization header")),
    ("realm", String(description="When authentication fails the plugin sends `WWW-Authenticate` header with `realm` attribute value.")),
], entity_checks=[
    Conditional("ldaps", {"eq": True}, "start_tls", {"eq": False},
                then_err="'ldaps' and 'start_tls' cannot be enabled simultaneously"),
], nullable=False)

PLUGIN = PluginSpec(
    name="ldap-auth",
    priority=1200,
    config=CONFIG,
    description="Authenticate clients with a username and password checked against an LDAP directory.",
    handler=Refuses,
    no_consumer=True,
    not_run="it authenticates against an LDAP server, which the local runtime does not contact",
)
