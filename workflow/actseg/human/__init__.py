"""The human oracle (`oracle.source: human`, README "Human oracle"): a round's queries
answered by people through the survey's web front end and answer store.

- `pool`: the region table of the train split without ground truth (`pool.h5`);
- `queue`: a round's ranked queries (`round{t}/queue.h5`) and their ids;
- `progress`: the budget walk over the answers: what is kept, what is still open;
- `store`: the survey's SQLite answer store plus who holds which query (leases);
- `handout`: which query an annotator gets next;
- `app`: the web application (the survey's, with a queue instead of forms);
- `labels`: the answers of a finished round -> round{t}/labels.h5 (+ answers.h5);
- `quality`: per-annotator time per click and agreement on repeated queries;
- `exchange`: answers to and from CSV.
"""
