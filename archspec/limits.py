"""Expansion limits shared by lowering and the public functions' defaults (stdlib only, so
that `archspec.summary` of an nn.Module can name its default without loading the pipeline)."""

#: MAX_NODES, the default of `max_layers=` (`--max-layers`), counts every layer item expanded
#: (blocks, repeats and failed items too) and keeps a check under about half a second;
#: ResNet-152 expands to under 600. A repeat count is bounded by the same figure.
MAX_NODES = 10_000
