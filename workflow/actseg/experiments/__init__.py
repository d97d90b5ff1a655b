"""The experiment layer: everything the workflow knows about a config, as pure functions of
the config dict, importable and unit-tested (rules/common.smk only wraps it).

- `validation`: schema check with did-you-mean, defaults, cross-field checks;
- `variants`: the default experiment and study variants, merged and deduplicated;
- `paths`: the path registry (datasets, region sets, per-experiment round files);
- `jobs`: for each rule, the exact settings that change its output (the domain rules live
  there once) and its inputs; the CLI resolves a hand-written config through the same map.

The package imports nothing itself: every command imports `jobs`, and only the workflow and
`--config` need the validation (jsonschema).
"""
