# One active-learning round t (results/{exp}round{t}/; {exp} is "" where the default
# experiment's job is the same, else runs/{rule}-{hash}/, a folder per distinct job keyed
# by its provenance: actseg.experiments.branches). Inputs are located the same way, so a
# variant reads every file it shares with another experiment from that file's one folder:
#   select -> labels.h5 -> train_stage1 -> stage1.pt -> evaluate_stage1 -> stage1_miou.csv
#                                        -> pseudo_labels -> pseudo.h5 -> train_stage2
#                                           -> stage2.pt -> evaluate_stage2 -> miou.csv
#                                                                              + miou.png
# With the human oracle (oracle.source: human, rules/human.smk), select makes labels.h5
# from the answers to round t's queue.h5 (failing at once while some are missing), and
# stage 1 and pseudo labels read the answers (answers.h5) in place of oracle.h5.
# Round t >= 2 selects with round t-1's labels.h5 and stage1.pt only, so stage 2 is a
# branch: a stage-2 change reruns stage 2 and its evaluation, never a later selection.
# `params: settings` is the JSON of exactly the settings that change a rule's result
# (actseg.experiments.jobs; Snakemake's params trigger reruns on a change); `params: run`
# carries run settings (RunArgs) that do not trigger reruns. Every writer renames its
# output into place on success; training keeps <out>.resume.pt (not a declared output, so
# Snakemake leaves it) to resume from.


rule select:
    input:
        unpack(inputs(jobs.select_inputs)),
    output:
        labels="results/{exp}round{round}/labels.h5",
    params:
        settings=settings("select"),
        links=links("previous", "model", "queue"),
        human=human_options,
        run=run_args("select"),
    threads: config["threads"]
    resources:
        gpu=round_scored,
    log:
        "results/logs/{exp}round{round}/select.log",
    benchmark:
        "results/benchmarks/{exp}round{round}/select.tsv"
    conda:
        "../envs/actseg.yaml"
    shell:
        "python -m actseg select --round {wildcards.round} --regions {input.regions:q}"
        " --oracle {input.oracle:q} --settings {params.settings:q} {params.links} {params.human}"
        " {params.run} --threads {threads} --out {output.labels:q} > {log:q} 2>&1"


rule train_stage1:
    input:
        unpack(inputs(jobs.stage1_inputs)),
    output:
        model="results/{exp}round{round}/stage1.pt",
        log_csv="results/{exp}round{round}/stage1_log.csv",
    params:
        settings=settings("train_stage1"),
        init=links("init_classifier"),
        run=run_args("train_stage1"),
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        "results/logs/{exp}round{round}/train_stage1.log",
    benchmark:
        "results/benchmarks/{exp}round{round}/train_stage1.tsv"
    conda:
        "../envs/actseg.yaml"
    shell:
        "python -m actseg train --stage 1 --round {wildcards.round} --regions {input.regions:q}"
        " --oracle {input.oracle:q} --labels {input.labels:q} {params.init}"
        " --settings {params.settings:q}"
        " {params.run} --threads {threads} --out {output.model:q} --log-csv {output.log_csv:q}"
        " > {log:q} 2>&1"


rule evaluate_stage1:
    input:
        unpack(inputs(jobs.stage1_evaluate_inputs)),
    output:
        csv="results/{exp}round{round}/stage1_miou.csv",
    params:
        settings=settings("evaluate"),
        run=run_args("evaluate"),
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        "results/logs/{exp}round{round}/evaluate_stage1.log",
    benchmark:
        "results/benchmarks/{exp}round{round}/evaluate_stage1.tsv"
    conda:
        "../envs/actseg.yaml"
    shell:
        "python -m actseg evaluate --model {input.model:q} --round {wildcards.round}"
        " --labels {input.labels:q} --stage 1 --split val --settings {params.settings:q}"
        " {params.run} --threads {threads} --out {output.csv:q} > {log:q} 2>&1"


rule pseudo_labels:
    input:
        unpack(inputs(jobs.pseudo_inputs)),
    output:
        pseudo="results/{exp}round{round}/pseudo.h5",
        quality="results/{exp}round{round}/pseudo_quality.csv",
    params:
        settings=settings("pseudo"),
        run=run_args("pseudo"),
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        "results/logs/{exp}round{round}/pseudo_labels.log",
    benchmark:
        "results/benchmarks/{exp}round{round}/pseudo_labels.tsv"
    conda:
        "../envs/actseg.yaml"
    shell:
        "python -m actseg pseudo --round {wildcards.round} --model {input.model:q}"
        " --regions {input.regions:q} --oracle {input.oracle:q} --labels {input.labels:q}"
        " --settings {params.settings:q} {params.run} --threads {threads} --out {output.pseudo:q}"
        " --quality-csv {output.quality:q} > {log:q} 2>&1"


rule train_stage2:
    input:
        unpack(inputs(jobs.stage2_inputs)),
    output:
        model="results/{exp}round{round}/stage2.pt",
        log_csv="results/{exp}round{round}/stage2_log.csv",
    params:
        settings=settings("train_stage2"),
        run=run_args("train_stage2"),
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        "results/logs/{exp}round{round}/train_stage2.log",
    benchmark:
        "results/benchmarks/{exp}round{round}/train_stage2.tsv"
    conda:
        "../envs/actseg.yaml"
    shell:
        "python -m actseg train --stage 2 --round {wildcards.round} --pseudo {input.pseudo:q}"
        " --settings {params.settings:q} {params.run} --threads {threads}"
        " --out {output.model:q} --log-csv {output.log_csv:q} > {log:q} 2>&1"


rule evaluate_stage2:
    input:
        unpack(inputs(jobs.stage2_evaluate_inputs)),
    output:
        csv=report(
            "results/{exp}round{round}/miou.csv",
            category="Learning curve",
            caption="../workflow/report/miou_csv.rst",
        ),
        png=report(
            "results/{exp}round{round}/miou.png",
            category="Learning curve",
            caption="../workflow/report/miou_png.rst",
        ),
    params:
        settings=settings("evaluate"),
        previous=links("previous"),
        run=run_args("evaluate"),
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        "results/logs/{exp}round{round}/evaluate_stage2.log",
    benchmark:
        "results/benchmarks/{exp}round{round}/evaluate_stage2.tsv"
    conda:
        "../envs/actseg.yaml"
    shell:
        "(python -m actseg evaluate --model {input.model:q} --round {wildcards.round}"
        " --labels {input.labels:q} --stage1-csv {input.stage1_csv:q} {params.previous}"
        " --stage 2 --split val --settings {params.settings:q} {params.run}"
        " --threads {threads} --out {output.csv:q}"
        " && python -m actseg curve --csv {output.csv:q} --out {output.png:q}) > {log:q} 2>&1"
