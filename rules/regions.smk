# Regions and oracle labels of the train split: computed once per region set
# ({dataset}-{method}{size}) and shared by every experiment that uses it.


rule regions:
    input:
        data=lambda wildcards: paths.dataset_inputs(regionset_config(wildcards)),
    output:
        regions="results/regions/{regionset}/regions.h5",
    params:
        settings=settings("regions", regionset_config),
    threads: config["threads"]
    log:
        "results/logs/regions/{regionset}/regions.log",
    benchmark:
        "results/benchmarks/regions/{regionset}/regions.tsv"
    conda:
        "../envs/actseg.yaml"
    shell:
        "python -m actseg regions --settings {params.settings:q} --workers {threads}"
        " --out {output.regions:q} > {log:q} 2>&1"


rule oracle:
    input:
        regions="results/regions/{regionset}/regions.h5",
    output:
        oracle="results/regions/{regionset}/oracle.h5",
    params:
        settings=settings("oracle", regionset_config),
    threads: config["threads"]
    log:
        "results/logs/regions/{regionset}/oracle.log",
    benchmark:
        "results/benchmarks/regions/{regionset}/oracle.tsv"
    conda:
        "../envs/actseg.yaml"
    shell:
        "python -m actseg oracle --settings {params.settings:q} --regions {input.regions:q}"
        " --workers {threads} --out {output.oracle:q} > {log:q} 2>&1"
