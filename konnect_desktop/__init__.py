"""Konnect Desktop: design, test and operate Kong-style API gateways, with a gateway built in."""

__version__ = "0.1.0"
