"""The pieces of lowering (spec -> IR); `archspec.lower` is the entry point.

context.py  what one walk step sees (Item, Scope, Site, Child) and the expansion limits
walker.py   the recursive walk: scopes, items, layers and child modules; constructs dispatch
values.py   the one coercion ladder: params, field values, expressions
refs.py     `from:` references, unknown names and cycles
init.py     `init:` rules
"""
