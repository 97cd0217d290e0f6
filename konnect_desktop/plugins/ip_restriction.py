"""ip-restriction: allow or deny clients by IP address or CIDR range (Kong's plugin).

``deny`` is checked first, then ``allow``; a blocked client gets ``status`` (403) and
``message`` (by default Kong 3.9's "IP address not allowed: <client address>"). The client address is the one the data plane
determined (the connection's peer, or the forwarded address from trusted proxies).
"""

from __future__ import annotations

import ipaddress

from ..jsontypes import JSONObject
from ..model.schema import Array, AtLeastOneOf, Number, Record, String
from .base import Decision, Handler, PluginSpec, RequestContext, RuntimeServices

NAME = "ip-restriction"
PRIORITY = 990
DEFAULT_MESSAGE = "IP address not allowed: {}"  # Kong's do_exit; {} is the client address

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _ip_or_cidr(value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"invalid ip or cidr range: '{value}'"
    return None


CONFIG = Record(
    [
        ("allow", Array(String(custom=_ip_or_cidr), description="IP addresses or CIDR ranges allowed (e.g. `10.0.0.0/8`, `::1`). Set `allow`, `deny` or both.")),
        ("deny", Array(String(custom=_ip_or_cidr), description="IP addresses or CIDR ranges denied; checked before `allow`.")),
        ("status", Number(description="The HTTP status of the requests that will be rejected by the plugin (default 403).")),
        ("message", String(description="The message to send as a response body to rejected requests (default `IP address not allowed: <client address>`).")),
    ],
    nullable=False,
    description="Which client addresses may use the service or route.",
)


def _networks(values: list[str] | None) -> list[Network]:
    return [ipaddress.ip_network(v, strict=False) for v in values or ()]


def _matches(addr: ipaddress.IPv4Address | ipaddress.IPv6Address, nets: list[Network]) -> bool:
    mapped = addr.ipv4_mapped if isinstance(addr, ipaddress.IPv6Address) else None
    for net in nets:
        if addr.version == net.version and addr in net:
            return True
        if mapped is not None and net.version == 4 and mapped in net:
            return True
    return False


class IpRestrictionHandler(Handler):
    def __init__(self, config: JSONObject, plugin: JSONObject, runtime: RuntimeServices) -> None:
        super().__init__(config, plugin, runtime)
        self.allow = _networks(config.get("allow"))
        self.deny = _networks(config.get("deny"))
        status = config.get("status")
        self.status = int(status) if status is not None else 403
        self.message: str | None = config.get("message")

    async def access(self, ctx: RequestContext) -> None:
        try:
            addr = ipaddress.ip_address(ctx.client_ip.split("%", 1)[0].strip("[]"))
        except ValueError:
            ctx.decisions.append(Decision(NAME, "reject", "client IP address unknown", {"status": 403}))
            raise ctx.kong_error(403, "Cannot identify the client IP address, unix domain sockets are not supported.") from None
        if self.deny and _matches(addr, self.deny):
            ctx.decisions.append(Decision(NAME, "reject", f"{addr} is in the deny list", {"status": self.status, "ip": str(addr)}))
            raise ctx.kong_error(self.status, self.message or DEFAULT_MESSAGE.format(addr))
        if self.allow and not _matches(addr, self.allow):
            ctx.decisions.append(Decision(NAME, "reject", f"{addr} is not in the allow list", {"status": self.status, "ip": str(addr)}))
            raise ctx.kong_error(self.status, self.message or DEFAULT_MESSAGE.format(addr))
        ctx.decisions.append(Decision(NAME, "pass", f"{addr} allowed", {"ip": str(addr)}))


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Allow or deny requests by client IP address or CIDR range.",
    handler=IpRestrictionHandler,
    entity_checks=[AtLeastOneOf(["config.allow", "config.deny"])],
    consumer_groups=True,
    any_protocol=True,
    protocols=("grpc", "grpcs", "http", "https", "tcp", "tls"),
)
