"""The pieces of lowering (spec -> IR); `archspec.lower` is the entry point.

context.py  what one walk step sees (Item, Scope, Site, Child) and the expansion limits
walker.py   the recursive walk: scopes, items and child modules; dispatch to layers and constructs
itemplan.py what the walk reads of an item's spec, read once per spec object
layer.py    one layer of a registered kind: fields bound, shape rule run, one node
values.py   the one coercion ladder: params, field values, expressions
exprs.py    the expressions kept on the IR (ir.AttrExpr), with where their names are bound
refs.py     `from:` references, unknown names and cycles
init.py     `init:` rules

Each compound construct lowers itself: see archspec/constructs/.
"""
