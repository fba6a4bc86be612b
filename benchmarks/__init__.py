"""archspec's benchmark suite: `python -m benchmarks [--quick] [--out FILE]`.

One module per measurement of issue 7 (forward, startup, compile_latency, scaling, huge),
`synth` for the synthetic specs, `twins` for the hand-written reference models, `common`
for timing and profiling, `report` for the tables. Measurements use only archspec's public
API and CLI.
"""
