# Studies of the supplement (docs/method.md §9): every (variant, seed) of a study is an
# experiment built by the round rules, each of its jobs in the one folder of that job's
# provenance (results/round{t}/ if the default experiment's, else results/runs/{rule}-{hash}/;
# actseg.experiments.branches): jobs shared between variants, studies and the default
# experiment run once, and the figure reads each run's curve from its folder.


rule study_figure:
    input:
        curves=lambda wildcards: [run[3] for run in study_runs(wildcards)],
    output:
        csv="results/figures/{study}.csv",
        summary="results/figures/{study}_summary.csv",
        png=report("results/figures/{study}.png", category="Studies"),
    wildcard_constraints:
        study=r"(?!qualitative)[A-Za-z0-9][A-Za-z0-9_.+-]*",
    params:
        runs=study_run_args,
    threads: 1
    log:
        "results/logs/figures/{study}.log",
    benchmark:
        "results/benchmarks/figures/{study}.tsv"
    conda:
        "../envs/actseg.yaml"
    shell:
        "python -m actseg figures study --name {wildcards.study} {params.runs}"
        " --out-csv {output.csv:q} --out-summary {output.summary:q} --out-png {output.png:q}"
        " > {log:q} 2>&1"


rule qualitative_figure:
    input:
        models=list(EXPERIMENTS.qualitative_models().values()),
        data=paths.dataset_inputs(experiment_config("")),
    output:
        png=report("results/figures/qualitative.png", category="Studies"),
    params:
        models=jobs.render_repeated("model", [f"{name}={path}" for name, path
                                              in EXPERIMENTS.qualitative_models().items()]),
        settings=settings("qualitative", lambda wildcards: experiment_config("")),
        run=run_args("qualitative", lambda wildcards: experiment_config("")),
    threads: config["threads"]
    resources:
        gpu=1,
    log:
        "results/logs/figures/qualitative.log",
    benchmark:
        "results/benchmarks/figures/qualitative.tsv"
    conda:
        "../envs/actseg.yaml"
    shell:
        "python -m actseg figures qualitative {params.models} --settings {params.settings:q}"
        " {params.run}"
        " --threads {threads} --out {output.png:q} > {log:q} 2>&1"
