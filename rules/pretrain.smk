# The stand-in for the paper's ImageNet weights: the backbone pretrained on the procedural
# texture-and-shape domain (actseg.pretext: no dataset, no labels). The small backbone's
# weights ship in workflow/weights/ with their provenance JSON and training log; the files
# have no Snakemake metadata in a fresh clone, so they are never rebuilt by accident.
# `snakemake --cores 2 --forcerun pretrain workflow/weights/small-pretext.pt` rebuilds them,
# and a missing workflow/weights/{backbone}-pretext.pt named by model.pretrained is built.


rule pretrain:
    output:
        weights="workflow/weights/{backbone}-pretext.pt",
        provenance="workflow/weights/{backbone}-pretext.json",
        log_csv="workflow/weights/{backbone}-pretext.log.csv",
    wildcard_constraints:
        backbone=r"small|resnet18|resnet34|resnet50|resnet101",
    params:
        settings=settings("pretrain", pretrain_config),
        run=run_args("pretrain", pretrain_config),
    threads: config["threads"]
    log:
        "results/logs/pretrain/{backbone}.log",
    benchmark:
        "results/benchmarks/pretrain/{backbone}.tsv"
    conda:
        "../envs/actseg.yaml"
    shell:
        "python -m actseg pretrain --out {output.weights:q} --settings {params.settings:q}"
        " {params.run} --threads {threads} > {log:q} 2>&1"
