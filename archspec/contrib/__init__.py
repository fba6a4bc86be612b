"""Layer kinds that ship with archspec but enter through the public extension API.

Each module here is an ordinary `archspec.layers` plugin (see pyproject's entry points): it is
written exactly as a third-party package would write it.
"""
