# The labelling study (README "Labelling study"): the survey's forms over the default
# experiment's region set. Serving it and reporting Table 1 wait for people, so they are
# commands (`python -m actseg survey serve | report`), not rules.

SURVEY_CONFIG = experiment_config("")


rule survey_build:
    input:
        data=paths.dataset_inputs(SURVEY_CONFIG),
        regions=paths.regions_path(SURVEY_CONFIG, "regions"),
        oracle=paths.regions_path(SURVEY_CONFIG, "oracle"),
    output:
        survey="results/survey/survey.json",
    params:
        out=lambda wildcards, output: os.path.dirname(output.survey),
        settings=jobs.settings_json(jobs.from_config(jobs.JOBS["survey_build"], SURVEY_CONFIG)),
    log:
        "results/logs/survey/survey_build.log",
    benchmark:
        "results/benchmarks/survey/survey_build.tsv"
    conda:
        "../envs/actseg.yaml"
    shell:
        "python -m actseg survey build --settings {params.settings:q}"
        " --regions {input.regions:q} --oracle {input.oracle:q} --out {params.out:q}"
        " > {log:q} 2>&1"
