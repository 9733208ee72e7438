"""Serving: the wire protocol (stdlib only), the `moscale serve` server and its stdlib-only client."""
