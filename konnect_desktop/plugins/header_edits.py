"""Plugins' edits of the request headers, kept aside until somebody needs the whole table.

Most plugins that touch request headers only write a few (an auth plugin's ``X-Consumer-*``,
request-transformer's ``add``) or read one (key-auth's ``apikey``). Building the whole table
(every header decoded into a ``CIMultiDict``) and re-encoding it for the upstream costs more than
the plugin's own work, so ``RequestContext.set_header`` / ``add_header`` / ``clear_header`` record
the edits here while no plugin has read ``ctx.headers``:

* reading ``ctx.headers`` builds the table and replays the edits on it, in order: the same
  table, hence the same upstream request, as if they had been made on it;
* else the proxy splices the edits into the client's header lines as received, when that gives
  the same bytes: none of the edited names was sent by the client (then every edit only acts on
  what the edits themselves added, ``tail``) and none is one the proxy writes itself (Host,
  framing, forwarding headers); otherwise it builds the table as above.

The edits are Kong's (``kong.service.request``): ``SET`` replaces every value of the name (the
first one in place, as ``CIMultiDict.__setitem__``), ``ADD`` appends one, ``CLEAR`` removes all.
"""

from __future__ import annotations

from collections.abc import Iterable

from multidict import CIMultiDict

SET, ADD, CLEAR = 0, 1, 2

# one edit: (SET | ADD | CLEAR, name, value); a CLEAR's value is unused ("")
Edit = tuple[int, str, str]


def apply_edits(h: CIMultiDict[str], edits: Iterable[Edit]) -> None:
    for op, name, value in edits:
        if op == SET:
            h[name] = value
        elif op == ADD:
            h.add(name, value)
        else:
            h.popall(name, None)


class HeaderEdits:
    """The edits made so far, in order (see the module docstring)."""

    __slots__ = ("ops", "_names", "_tail")

    def __init__(self, ops: Iterable[Edit] = ()) -> None:
        self.ops: list[Edit] = list(ops)
        self._names: set[str] | None = None
        self._tail: CIMultiDict[str] | None = None

    def extend(self, ops: Iterable[Edit]) -> None:
        new = list(ops)
        self.ops.extend(new)
        # (what was derived from the edits so far goes on from there)
        if self._names is not None:
            self._names.update([name.lower() for _op, name, _v in new])
        if self._tail is not None:
            apply_edits(self._tail, new)

    @property
    def key(self) -> tuple[str, ...]:
        """The edited names as given, in order: the same on every request of a chain."""
        return tuple([name for _op, name, _v in self.ops])

    @property
    def names(self) -> set[str]:
        """The edited names, lower-case."""
        names = self._names
        if names is None:
            names = self._names = {name.lower() for _op, name, _v in self.ops}
        return names

    @property
    def tail(self) -> CIMultiDict[str]:
        """The edits applied to no headers: what they leave of the names they touch when the
        client sent none of them (in order, at the end of the table)."""
        tail = self._tail
        if tail is None:
            tail = self._tail = CIMultiDict()
            apply_edits(tail, self.ops)
        return tail
