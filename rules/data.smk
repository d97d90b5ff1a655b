# The dataset. kind synthetic: the embedded city is generated into dataset.root (Cityscapes
# layout); the manifest, written last, marks it complete. kind cityscapes | voc: the
# existing tree at dataset.root is read in place (its layout is checked before any job runs).
# --force replaces an older generated city (validation refuses a root holding anything
# else). One rule per synthetic dataset the experiments use (usually one:
# synthesize_synthetic), so its log and benchmark are named after the dataset, not its path.

import re

for _name, _cfg in sorted(EXPERIMENTS.registry()["datasets"].items()):
    if _cfg["dataset"]["kind"] != "synthetic":
        continue

    rule:
        name:
            f"synthesize_{re.sub(r'[^A-Za-z0-9_]', '_', _name)}"
        output:
            manifest=paths.synthetic_manifest(_cfg),
        params:
            root=lambda wildcards, output: os.path.dirname(output.manifest),
            settings=jobs.settings_json(jobs.from_config(jobs.JOBS["synth"], _cfg)),
        threads: config["workers"]
        log:
            f"results/logs/data/{_name}.log",
        benchmark:
            f"results/benchmarks/data/{_name}.tsv"
        conda:
            "../envs/actseg.yaml"
        shell:
            "python -m actseg synth --out {params.root:q} --settings {params.settings:q} --force"
            " --workers {threads} > {log:q} 2>&1"
