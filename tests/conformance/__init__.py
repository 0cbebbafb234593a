"""Conformance requirements published for durable execution SDKs, and the rules to check them."""
