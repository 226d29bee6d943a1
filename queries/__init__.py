"""The query files that ship with umlsgraph (installed as package data)."""
