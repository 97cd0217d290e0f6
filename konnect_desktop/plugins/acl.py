"""acl: allow or deny consumers by group (Kong's bundled plugin).

Runs after the auth plugins (PRIORITY 950) and checks the identified consumer's ACL groups
(``acls`` entities; with ``include_consumer_groups`` also the names of its consumer groups)
against ``allow`` or ``deny``. Groups set by another authentication (``authenticated_groups``,
e.g. LDAP) are used when there is no consumer, the consumer is anonymous, or
``always_use_authenticated_groups`` is on. Passing requests tell the upstream the groups in
``X-Consumer-Groups`` (or ``X-Authenticated-Groups``).
"""

from __future__ import annotations

from typing import Any

from ..jsontypes import JSONObject
from ..model.schema import Array, AtLeastOneOf, Boolean, OnlyOneOf, Record, String
from .base import Decision, Handler, PluginSpec, RequestContext

NAME = "acl"
PRIORITY = 950
BLOCKED = "You cannot consume this service"
CONSUMER_GROUPS = "X-Consumer-Groups"
AUTHENTICATED_GROUPS = "X-Authenticated-Groups"

CONFIG = Record(
    [
        ("allow", Array(String(), description="Group names allowed to use the service or route. Set either `allow` or `deny`.")),
        ("deny", Array(String(), description="Group names not allowed to use the service or route. Set either `allow` or `deny`.")),
        ("hide_groups_header", Boolean(required=True, default=False,
                                       description="Do not send the `X-Consumer-Groups` header upstream.")),
        ("always_use_authenticated_groups", Boolean(required=True, default=False,
                                                    description="Use groups from another authentication (e.g. LDAP) even when a consumer with a credential is identified; by default they are used only without a consumer or for the anonymous consumer.")),
        ("include_consumer_groups", Boolean(required=True, default=False,
                                            description="Also match the names of the consumer's consumer groups against `allow`/`deny`.")),
    ],
    nullable=False,
    description="Which groups may use the service or route.",
)


class AclHandler(Handler):
    def __init__(self, config: dict[str, Any], plugin: dict[str, Any], runtime: Any) -> None:
        super().__init__(config, plugin, runtime)
        deny = config.get("deny") or []
        self.deny_mode = bool(deny)
        self.groups = frozenset(deny if self.deny_mode else (config.get("allow") or []))
        self.hide = bool(config.get("hide_groups_header"))
        self.always_use_authenticated_groups = bool(config.get("always_use_authenticated_groups"))
        self.include_consumer_groups = bool(config.get("include_consumer_groups"))

    def _reject(self, ctx: RequestContext, status: int, why: str) -> Exception:
        ctx.decisions.append(Decision(NAME, "reject", why, {"status": status}))
        return ctx.kong_error(status, BLOCKED if status == 403 else "Unauthorized")

    def _decide(self, ctx: RequestContext, groups: list[str], header: str) -> None:
        """``groups``: a list of the caller's own (the decision keeps it)."""
        hit = [g for g in groups if g in self.groups]
        blocked = bool(hit) if self.deny_mode else not hit
        mode = "deny" if self.deny_mode else "allow"
        if blocked:
            why = f"group {hit[0]} is denied" if self.deny_mode else "no allowed group"
            raise self._reject(ctx, 403, why)
        if not self.hide and groups:
            ctx.headers[header] = ", ".join(groups)
        ctx.decisions.append(Decision.later(NAME, "pass", _explain_pass, groups, mode))

    def access(self, ctx: RequestContext) -> None:
        """The whole phase: nothing here waits."""
        consumer = ctx.consumer
        credential = ctx.credential
        auth_groups = ctx.authenticated_groups
        if consumer is None or not consumer.get("id"):
            if not auth_groups:
                if credential is not None:
                    raise self._reject(ctx, 403, "credential without consumer")
                raise self._reject(ctx, 401, "no consumer identified")
            self._decide(ctx, list(auth_groups), AUTHENTICATED_GROUPS)
            return
        if (credential is None or self.always_use_authenticated_groups) and auth_groups:
            self._decide(ctx, list(auth_groups), AUTHENTICATED_GROUPS)
            return
        groups = ctx.config.acl_groups(consumer["id"])  # (a list of our own)
        if self.include_consumer_groups:
            for g in ctx.config.consumer_groups(consumer["id"]):
                name = g.get("name")
                if name and name not in groups:
                    groups.append(name)
        if not groups and not self.deny_mode:
            if credential is not None:
                raise self._reject(ctx, 403, "consumer has no groups")
            raise self._reject(ctx, 401, "anonymous consumer has no groups")
        self._decide(ctx, groups, CONSUMER_GROUPS)


def _explain_pass(groups: list[str], mode: str) -> tuple[str, JSONObject]:
    return f"groups: {', '.join(groups) or '(none)'} ({mode} list)", {"groups": groups, "mode": mode}


PLUGIN = PluginSpec(
    name=NAME,
    priority=PRIORITY,
    config=CONFIG,
    description="Restrict access to a service or route by allowing or denying consumer groups.",
    handler=AclHandler,
    entity_checks=[
        OnlyOneOf(["config.allow", "config.deny"]),
        AtLeastOneOf(["config.allow", "config.deny"]),
    ],
    no_consumer=True,
)
