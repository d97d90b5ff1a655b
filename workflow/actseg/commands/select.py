"""`actseg select`: score the pool and fill round t's click budget -> round{t}/labels.h5.
With `--queue` (the human oracle) it makes labels.h5 from the round's answers instead
(`actseg.commands.human.run_labels`).

Round 1 draws uniform scores from a Generator seeded with (seed, 1) (the settings map makes
its method random: actseg.experiments.jobs). Round t >= 2 ranks the still-unlabelled regions
with the configured method, scored by round t-1's stage-1 model in one batched inference pass
over the pool (train images that still have an unlabelled region); `--method random` needs no
model in any round.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np

from actseg import schema
from actseg.acquire import PoolScorer, random_scores
from actseg.budget import advance, empty_state, fill_budget, round_seed
from actseg.cli import CommandError
from actseg.commands.options import add_inference_arguments, resolve_settings, set_threads
from actseg.commands.round_inputs import (check_val_split, load_round_model,
                                         open_train_split)
from actseg.stores import (LabelState, OracleTable, RegionsStore, StoreError, multihot_to_bool,
                           read_labels, read_oracle, write_labels)

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_ranking_arguments(parser)
    human = parser.add_argument_group("human oracle (oracle.source: human)")
    human.add_argument("--queue", help="round{t}/queue.h5: make labels.h5 from its answers")
    human.add_argument("--db", help="the answer store (SQLite)")
    add_inference_arguments(parser, "select")


def add_ranking_arguments(parser: argparse.ArgumentParser) -> None:
    """The inputs and output of a round's ranking (select and `human queue`)."""
    parser.add_argument("--round", type=int, required=True, help="round t (1-based)")
    parser.add_argument("--regions", required=True, help="regions.h5 of the train split")
    parser.add_argument("--oracle", required=True,
                        help="oracle.h5 of those regions (human oracle: pool.h5)")
    parser.add_argument("--previous", help="round{t-1}/labels.h5 (required for t >= 2)")
    parser.add_argument("--model", help="round{t-1}/stage1.pt (required for t >= 2)")
    parser.add_argument("--out", required=True, help="round{t}/labels.h5 (or queue.h5) to write")


def run(args: argparse.Namespace) -> None:
    resolve_settings(args, "select", args.round)
    if args.queue:  # the human oracle: the round's answers, not a fill
        from actseg.commands.human import run_labels

        return run_labels(args)
    check_args(args)
    set_threads(args)
    try:
        oracle = read_oracle(args.oracle)
        regions = RegionsStore(args.regions)
        previous = previous_state(args, oracle)
    except StoreError as err:
        raise CommandError(str(err)) from err
    cost = oracle.cost(args.labelling)
    scores, tau, dataset = rank_pool(args, regions, oracle, previous)
    selected = fill_budget(scores, cost, previous.labelled, args.budget)
    state = advance(previous, selected, cost, scores, args.method,
                    attrs=acquisition_attrs(args, tau))
    write_labels(args.out, state)
    _log_summary(state, selected, oracle, args.labelling, dataset.class_names)


def rank_pool(args: argparse.Namespace, regions: RegionsStore, table: OracleTable,
              previous: LabelState) -> tuple[np.ndarray, float | None, object]:
    """(scores, tau, train split): round t's ranking scores of the unlabelled regions
    (random in round 1 or with --method random, else round t-1's model), -inf elsewhere."""
    dataset = open_train_split(args, regions, table)
    check_val_split(args)
    candidates = (table.area > 0) & ~previous.labelled
    if args.method == "random":
        return random_scores(candidates, round_seed(args.seed, args.round)), None, dataset
    scores, tau = _model_scores(args, dataset, regions, candidates, args.method,
                                table.num_channels, table.has_undefined)
    return scores, tau, dataset


def acquisition_attrs(args: argparse.Namespace, tau: float | None) -> dict:
    """How a round ranked its pool (stored in labels.h5)."""
    return {"budget": args.budget, "kappa": args.kappa, "seed": args.seed,
            "ban_undefined": args.ban_undefined, "configured_method": args.method,
            "model": args.model if args.method != "random" else None, "tau": tau}


def check_args(args: argparse.Namespace) -> None:
    if args.round < 1:
        raise CommandError(f"--round must be >= 1, got {args.round}")
    if args.budget <= 0:
        raise CommandError(f"--budget must be a positive number of clicks, got {args.budget}")
    if args.batch_size < 1:
        raise CommandError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.round == 1 and args.previous:
        raise CommandError("round 1 starts from nothing labelled: do not pass --previous")
    if args.round >= 2 and not args.previous:
        raise CommandError(f"round {args.round} needs --previous round{args.round - 1}/labels.h5")
    if args.round >= 2 and args.method != "random" and not args.model:
        raise CommandError(f"round {args.round} with --method {args.method} needs --model "
                           f"round{args.round - 1}/stage1.pt")


def previous_state(args: argparse.Namespace, oracle: OracleTable) -> LabelState:
    """Round t-1's state, checked against the oracle and the arguments (empty for t = 1)."""
    shape = oracle.multihot.shape
    if args.round == 1:
        return empty_state(shape, args.labelling)
    path = args.previous
    state = read_labels(path)
    if state.labelled_round.shape != shape:
        raise StoreError(f"{path}: labelled_round has shape {state.labelled_round.shape}, but "
                         f"{args.oracle} has (N, R_max) = {shape}")
    if state.round != args.round - 1:
        raise StoreError(f"{path}: holds round {state.round}, expected round {args.round - 1}")
    if state.labelling != args.labelling:
        raise StoreError(f"{path}: labelling is {state.labelling!r}, but --labelling is "
                         f"{args.labelling!r}")
    if (state.labelled_round > state.round).any() or (state.labelled_round < 0).any():
        raise StoreError(f"{path}: labelled_round holds values outside 0..{state.round}")
    if (state.labelled & (oracle.area == 0)).any():
        raise StoreError(f"{path}: marks region ids labelled that {args.oracle} says are absent")
    return state


def _model_scores(args, dataset, regions: RegionsStore, candidates: np.ndarray, method: str,
                  num_channels: int, has_undefined: bool) -> tuple[np.ndarray, float]:
    """(scores, tau): the pool scored by round t-1's stage-1 model at the model's tau;
    -inf for regions that are not candidates."""
    import torch

    from actseg.inference import predict

    model, meta, device = load_round_model(args.model, args.device, num_channels)
    tau = float(meta.get("tau", schema.default("model.tau")))
    pool = np.flatnonzero(candidates.any(axis=1))
    log.info("scoring %d pool images with %s (tau %.3g, kappa %s, ban undefined %s)",
             len(pool), method, tau, args.kappa, args.ban_undefined)
    kappa = {} if args.kappa is None else {"kappa": args.kappa}  # pixbal only
    # without an undefined class there is nothing to ban (the job drops the setting)
    scorer = PoolScorer(method, len(regions), candidates.shape[1], num_channels, tau=tau,
                        ban_undefined=bool(args.ban_undefined) and has_undefined,
                        has_undefined=has_undefined, **kappa)
    for indices, logits, _ in predict(model, dataset, pool, args.batch_size, device, amp=args.amp,
                                      desc=f"select round {args.round}",
                                      setting="acquisition.batch_size"):
        maps = [regions.region_map(i) for i in indices]
        if any(m.shape != tuple(logits.shape[-2:]) for m in maps):
            raise CommandError(f"{args.regions}: region maps of images {indices} do not match "
                               f"the image size {tuple(logits.shape[-2:])}")
        scorer.update(indices, logits, torch.from_numpy(np.stack(maps)).to(logits.device))
    scores = scorer.finalize()
    scores[~candidates] = -np.inf
    return scores, tau


def _log_summary(state: LabelState, selected: np.ndarray, oracle: OracleTable,
                 labelling: str, class_names) -> None:
    names = [*class_names, *(["undefined"] if oracle.has_undefined else [])]
    answers = multihot_to_bool(oracle.label_sets(labelling)[selected], len(names))
    per_class = answers.sum(axis=0)
    covered = ", ".join(f"{names[c]} {per_class[c]}" for c in np.flatnonzero(per_class))
    log.info("round %d (%s): %d regions, %d clicks; cumulative %d regions, %d clicks",
             state.round, state.acquisition, state.regions_per_round[-1],
             state.clicks_per_round[-1], sum(state.regions_per_round),
             sum(state.clicks_per_round))
    real = per_class[:len(class_names)]
    log.info("classes covered this round: %d of %d real classes (regions per class: %s)",
             int((real > 0).sum()), len(class_names), covered or "none")
