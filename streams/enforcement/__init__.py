"""Enforcement in the stream: plate reads → the rules of :mod:`enforcement` → the case store."""
