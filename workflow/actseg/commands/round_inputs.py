"""The inputs of a round's inference commands (select, pseudo, evaluate), checked one way:
the train split against the region and oracle stores, the stores against each other, and a
stage-1 model against the class count. Errors are CommandErrors naming the files."""

from __future__ import annotations

import logging

from actseg.cli import CommandError
from actseg.stores import DominantRule, LabelState, OracleTable, RegionsStore

log = logging.getLogger(__name__)


def open_dataset_split(kind: str, root: str, split: str, labels: str = "required"):
    from actseg.datasets import DatasetError, open_dataset

    try:
        return open_dataset(kind, root, split, labels)
    except DatasetError as err:
        raise CommandError(str(err)) from err


def open_train_split(args, regions: RegionsStore, oracle: OracleTable):
    """The train split of `args.dataset` at `args.root`, checked against the stores; it may
    have no ground truth (the human oracle's pool): selection and pseudo labels never read
    it (the pseudo-label quality CSV says so)."""
    check_store_shapes(args, regions, oracle)
    dataset = open_dataset_split(args.dataset, args.root, "train", labels="optional")
    if list(dataset.image_ids) != list(regions.image_ids):
        raise CommandError(f"{args.regions} was cut from other images than the train split of "
                           f"{args.root} ({len(regions.image_ids)} vs {len(dataset)} images)")
    check_oracle_classes(args, dataset, oracle)
    return dataset


def check_oracle_classes(args, dataset, oracle: OracleTable) -> None:
    """The oracle table answers the dataset's classes, with the undefined class exactly
    where the dataset has it (an oracle.h5 written before VOC lost it has a u bit)."""
    if dataset.num_classes != oracle.num_classes:
        raise CommandError(f"{args.oracle} has {oracle.num_classes} classes, the {args.dataset} "
                           f"dataset {dataset.num_classes}")
    if dataset.has_undefined != oracle.has_undefined:
        built = "with" if oracle.has_undefined else "without"
        raise CommandError(f"{args.oracle} was built {built} the undefined class, which the "
                           f"{args.dataset} dataset "
                           f"{'has' if dataset.has_undefined else 'does not have'}: delete it "
                           "so that it is rebuilt")


def dominant_rule(args) -> DominantRule | None:
    """The simulated oracle's dominant answers (dominant.*; the job has them only for
    dominant labels of the simulated oracle: people's answers are what they said)."""
    if getattr(args, "dominant_void", None) is None:
        return None
    return DominantRule(args.dominant_void, args.dominant_rule, args.seed or 0)


def with_histograms(args, oracle: OracleTable, dataset, regions: RegionsStore,
                    labelling: str, dominant: DominantRule | None) -> OracleTable:
    """`oracle` able to give `dominant` answers: an oracle.h5 written before the region
    histograms gets them computed here from the ground truth (one bincount per image), so
    that it need not be rebuilt (which would make every job after it out of date)."""
    if (labelling != "dominant" or dominant is None or oracle.hist_sizes is not None
            or oracle.attrs.get("answers") in ("none", "human")):
        return oracle
    from actseg.oracle import OracleError, build_oracle_table

    log.warning("%s has no region histograms (written by an older actseg): computing them "
                "from the ground truth of the train split", args.oracle)
    try:
        full = build_oracle_table(dataset, regions, float(oracle.attrs.get("trim_width", 3.0)))
    except OracleError as err:
        raise CommandError(str(err)) from err
    if full.area.shape != oracle.area.shape or (full.area != oracle.area).any():
        raise CommandError(f"{args.oracle} does not describe the regions of {args.regions}")
    oracle.hist_sizes, oracle.hist_classes = full.hist_sizes, full.hist_classes
    oracle.hist_counts = full.hist_counts
    return oracle


def check_val_split(args) -> None:
    """Every file of the validation split is intact: checked when a round starts (select),
    so a corrupt image stops the round before training rather than at evaluation."""
    from actseg.datasets import DatasetError

    try:
        open_dataset_split(args.dataset, args.root, "val").verify()
    except DatasetError as err:
        raise CommandError(f"validation split: {err}") from err


def check_store_shapes(args, regions: RegionsStore, oracle: OracleTable,
                       labels: LabelState | None = None) -> None:
    """regions.h5, oracle.h5 (and labels.h5) describe the same (N, R_max) regions."""
    n, r_max = oracle.multihot.shape
    if len(regions) != n or regions.r_max > r_max:
        raise CommandError(f"{args.regions} ({len(regions)} images, R_max {regions.r_max}) does "
                           f"not match {args.oracle} ({n} images, R_max {r_max})")
    if labels is not None and labels.labelled_round.shape != (n, r_max):
        raise CommandError(f"{args.labels}: labelled_round has shape "
                           f"{labels.labelled_round.shape}, but {args.oracle} has {(n, r_max)}")


def load_round_model(path, device: str, num_outputs: int):
    """(model, meta, device) of a checkpoint whose classifier has `num_outputs` channels:
    the C real classes plus the undefined one where the dataset has it (the one
    class-count rule: the weights decide)."""
    from actseg.checkpoint import load_model
    from actseg.inference import resolve_device

    try:
        device = resolve_device(device)
        model, meta = load_model(path, device)
    except (OSError, RuntimeError, ValueError, KeyError) as err:
        raise CommandError(f"{path}: cannot load the model ({err})") from err
    outputs = model.classifier.weight.shape[0]
    if outputs != num_outputs:
        raise CommandError(f"{path}: model has {outputs} outputs, the data {num_outputs} "
                           "(its classes, plus the undefined one where it has it)")
    return model, meta, device
