"""The umlsgraph command line (installed as the `umlsgraph_cli` package).

Thin Typer commands: each parses options, calls one library function and prints.
"""
