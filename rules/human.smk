# The human oracle (oracle.source: human; README "Human oracle"): round t's ranking becomes
# a query queue that `python -m actseg human serve` hands to annotators; select (rounds.smk)
# turns the finished answers into labels.h5, and human_answers into the answers.h5 that
# stage 1 and pseudo labels read. The answer store (results/human/answers.sqlite for the default experiment)
# changes while people label, so it is no input: select reads it when it runs.


rule human_pool:
    input:
        regions="results/regions/{regionset}/regions.h5",
    output:
        pool="results/regions/{regionset}/pool.h5",
    params:
        settings=settings("human_pool", regionset_config),
    log:
        "results/logs/regions/{regionset}/pool.log",
    conda:
        "../envs/actseg.yaml"
    shell:
        "python -m actseg human pool --settings {params.settings:q}"
        " --regions {input.regions:q} --out {output.pool:q} > {log:q} 2>&1"


rule human_queue:
    input:
        unpack(inputs(jobs.ranking_inputs)),
    output:
        queue="results/{exp}round{round}/queue.h5",
    params:
        settings=settings("human_queue"),
        links=links("previous", "model"),
        run=run_args("human_queue"),
    threads: config["threads"]
    resources:
        gpu=queue_scored,
    log:
        "results/logs/{exp}round{round}/human_queue.log",
    conda:
        "../envs/actseg.yaml"
    shell:
        "python -m actseg human queue --round {wildcards.round} --regions {input.regions:q}"
        " --oracle {input.oracle:q} --settings {params.settings:q} {params.links} {params.run}"
        " --threads {threads} --out {output.queue:q} > {log:q} 2>&1"


rule human_answers:
    input:
        unpack(inputs(jobs.answers_inputs)),
    output:
        answers="results/{exp}round{round}/answers.h5",
    log:
        "results/logs/{exp}round{round}/human_answers.log",
    conda:
        "../envs/actseg.yaml"
    shell:
        "python -m actseg human answers --labels {input.labels:q} --pool {input.pool:q}"
        " --out {output.answers:q} > {log:q} 2>&1"
