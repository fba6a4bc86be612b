"""`python -m archspec` runs the CLI."""

from archspec.cli import main

main()
