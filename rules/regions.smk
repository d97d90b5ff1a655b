# Regions and oracle labels of the train split: computed once per region set
# ({dataset}-{method}{size}) and shared by every experiment that uses it.


if config["region_jobs"] == 1:

    rule regions:
        input:
            data=lambda wildcards: paths.dataset_inputs(regionset_config(wildcards)),
        output:
            regions="results/regions/{regionset}/regions.h5",
        params:
            settings=settings("regions", regionset_config),
        threads: config["workers"]
        log:
            "results/logs/regions/{regionset}/regions.log",
        benchmark:
            "results/benchmarks/regions/{regionset}/regions.tsv"
        conda:
            "../envs/actseg.yaml"
        shell:
            "python -m actseg regions --settings {params.settings:q} --workers {threads}"
            " --out {output.regions:q} > {log:q} 2>&1"

else:  # region_jobs: N chunk jobs (cores or cluster jobs), merged into one identical store

    rule regions_chunk:
        input:
            data=lambda wildcards: paths.dataset_inputs(regionset_config(wildcards)),
        output:
            part=temp("results/regions/{regionset}/chunks/{chunk}-of-{chunks}.h5"),
        params:
            settings=settings("regions", regionset_config),
        wildcard_constraints:
            chunk=r"[1-9]\d*",
            chunks=r"[1-9]\d*",
        threads: config["workers"]
        log:
            "results/logs/regions/{regionset}/regions-{chunk}-of-{chunks}.log",
        benchmark:
            "results/benchmarks/regions/{regionset}/regions-{chunk}-of-{chunks}.tsv"
        conda:
            "../envs/actseg.yaml"
        shell:
            "python -m actseg regions --settings {params.settings:q} --workers {threads}"
            " --chunk {wildcards.chunk:q}/{wildcards.chunks:q} --out {output.part:q}"
            " > {log:q} 2>&1"

    rule regions:
        input:
            parts=expand(
                "results/regions/{{regionset}}/chunks/{chunk}-of-{chunks}.h5",
                chunk=range(1, config["region_jobs"] + 1),
                chunks=config["region_jobs"],
            ),
        output:
            regions="results/regions/{regionset}/regions.h5",
        log:
            "results/logs/regions/{regionset}/regions.log",
        conda:
            "../envs/actseg.yaml"
        shell:
            "python -m actseg regions --merge {input.parts:q} --out {output.regions:q}"
            " > {log:q} 2>&1"


rule oracle:
    input:
        regions="results/regions/{regionset}/regions.h5",
    output:
        oracle="results/regions/{regionset}/oracle.h5",
    params:
        settings=settings("oracle", regionset_config),
    threads: config["workers"]
    log:
        "results/logs/regions/{regionset}/oracle.log",
    benchmark:
        "results/benchmarks/regions/{regionset}/oracle.tsv"
    conda:
        "../envs/actseg.yaml"
    shell:
        "python -m actseg oracle --settings {params.settings:q} --regions {input.regions:q}"
        " --workers {threads} --out {output.oracle:q} > {log:q} 2>&1"
