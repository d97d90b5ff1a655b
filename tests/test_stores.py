"""HDF5 stores: round trips, atomic writes, clear errors (actseg.stores)."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest

from actseg.stores import (
    LabelState,
    OracleTable,
    PseudoStore,
    PseudoWriter,
    RegionsStore,
    RegionsWriter,
    StoreError,
    multihot_to_bool,
    popcount,
    read_labels,
    read_oracle,
    write_labels,
    write_oracle,
)


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------------------ regions.h5


def two_maps():
    a = np.array([[0, 0, 1, 1, 2], [0, 3, 3, 1, 2], [3, 3, 3, 2, 2], [3, 3, 3, 2, 2]])
    b = np.array([[0, 1, 1], [0, 0, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2]])
    adj_a = np.array([[0, 1], [0, 3], [1, 2], [1, 3], [2, 3]])
    adj_b = np.array([[0, 1], [0, 2], [1, 2]])
    return (a, adj_a), (b, adj_b)


def write_two(path, **attrs):
    (a, adj_a), (b, adj_b) = two_maps()
    with RegionsWriter(path, ["x", "y"], [4, 6], [5, 3], max_regions=4,
                       attrs=dict(method="grid", size=2, **attrs)) as writer:
        writer.add(1, b, adj_b)  # any order
        writer.add(0, a, adj_a)


def test_regions_round_trip_with_differing_image_sizes(tmp_path):
    path = tmp_path / "regions.h5"
    write_two(path, dataset="fake")
    store = RegionsStore(path)
    (a, adj_a), (b, adj_b) = two_maps()
    assert len(store) == 2 and store.image_ids == ["x", "y"]
    assert store.n_regions.tolist() == [4, 3] and store.r_max == 4
    assert np.array_equal(store.region_map(0), a) and np.array_equal(store.region_map(1), b)
    assert store.region_map(1).dtype == np.int64
    assert store.adjacency(0).tolist() == adj_a.tolist()
    assert store.adjacency(1).tolist() == adj_b.tolist()
    assert store.attrs["method"] == "grid" and store.attrs["dataset"] == "fake"
    assert "actseg_version" in store.attrs
    with h5py.File(path) as f:
        assert f["regions"].dtype == np.uint16 and f["regions"].shape == (2, 6, 5)
    assert leftovers(tmp_path) == ["regions.h5"]


def test_regions_store_pickles_and_reopens(tmp_path):
    path = tmp_path / "regions.h5"
    write_two(path)
    store = RegionsStore(path)
    store.region_map(0)
    clone = pickle.loads(pickle.dumps(store))
    assert clone._file is None
    assert np.array_equal(clone.region_map(1), store.region_map(1))


def test_regions_writer_failure_leaves_no_file(tmp_path):
    path = tmp_path / "regions.h5"
    (a, adj_a), _ = two_maps()
    with pytest.raises(RuntimeError, match="boom"):
        with RegionsWriter(path, ["x", "y"], [4, 6], [5, 3], 4, {}) as writer:
            writer.add(0, a, adj_a)
            raise RuntimeError("boom")
    assert leftovers(tmp_path) == []


def test_regions_writer_incomplete_or_bad_maps_are_errors(tmp_path):
    path = tmp_path / "regions.h5"
    (a, adj_a), _ = two_maps()
    with pytest.raises(StoreError, match=r"images \[1\] were never written"):
        with RegionsWriter(path, ["x", "y"], [4, 6], [5, 3], 4, {}) as writer:
            writer.add(0, a, adj_a)
    assert leftovers(tmp_path) == []
    with pytest.raises(StoreError, match="shape"):
        with RegionsWriter(path, ["x"], [5], [5], 4, {}) as writer:
            writer.add(0, a, adj_a)
    with pytest.raises(StoreError, match="region ids outside"):
        with RegionsWriter(path, ["x"], [4], [5], 4, {}) as writer:
            writer.add(0, a + 70000, adj_a)
    assert leftovers(tmp_path) == []


def test_missing_corrupt_and_incomplete_stores_are_named(tmp_path):
    missing = tmp_path / "nope.h5"
    with pytest.raises(StoreError, match="nope.h5: no such store"):
        RegionsStore(missing)
    with pytest.raises(StoreError, match="nope.h5"):
        read_oracle(missing)
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(b"not an hdf5 file")
    with pytest.raises(StoreError, match="corrupt.h5: cannot open"):
        RegionsStore(corrupt)
    partial = tmp_path / "partial.h5"
    with h5py.File(partial, "w") as f:
        f.create_dataset("regions", data=np.zeros((1, 2, 2)))
    with pytest.raises(StoreError, match=r"partial.h5: missing dataset\(s\)"):
        RegionsStore(partial)


# ------------------------------------------------------------------------------ oracle.h5


def small_table() -> OracleTable:
    c = 3  # undefined bit = 3
    return OracleTable(
        multihot=np.array([[0b0001, 0b1010, 0b0111], [0b0100, 0, 0]], dtype=np.uint32),
        dominant=np.array([[0, 3, 2], [2, 255, 255]], dtype=np.uint8),
        area=np.array([[10, 20, 30], [40, 0, 0]], dtype=np.int32),
        trimmed_area=np.array([[4, 0, 12], [30, 0, 0]], dtype=np.int32),
        num_classes=c,
        attrs={"trim_width": 3.0, "dataset": "fake"},
    )


def test_oracle_costs_and_label_sets():
    table = small_table()
    assert table.cost("multiclass").tolist() == [[1, 2, 3], [1, 0, 0]]
    assert table.cost("dominant").tolist() == [[1, 1, 1], [1, 0, 0]]
    assert table.label_sets("dominant").tolist() == [[1, 8, 4], [4, 0, 0]]
    assert np.array_equal(table.label_sets("multiclass"), table.multihot)
    with pytest.raises(ValueError, match="labelling"):
        table.cost("polygon")


def test_oracle_round_trip_and_rewrite(tmp_path):
    table = small_table()
    write_oracle(tmp_path / "oracle.h5", table)
    back = read_oracle(tmp_path / "oracle.h5")
    for name in ("multihot", "dominant", "area", "trimmed_area"):
        assert np.array_equal(getattr(back, name), getattr(table, name)), name
        assert getattr(back, name).dtype == getattr(table, name).dtype
    assert back.num_classes == 3 and back.attrs["trim_width"] == 3.0
    with h5py.File(tmp_path / "oracle.h5") as f:
        assert f["cost_multiclass"][:].tolist() == [[1, 2, 3], [1, 0, 0]]
        assert f["cost_dominant"][:].tolist() == [[1, 1, 1], [1, 0, 0]]
    write_oracle(tmp_path / "again.h5", back)  # a read table carries num_classes in attrs
    assert read_oracle(tmp_path / "again.h5").num_classes == 3


def test_popcount_and_multihot_to_bool():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2**32, size=200, dtype=np.uint64).astype(np.uint32)
    assert popcount(bits).tolist() == [bin(int(b)).count("1") for b in bits]
    as_bool = multihot_to_bool(np.array([0b101, 0b010], dtype=np.uint32), 4)
    assert as_bool.tolist() == [[True, False, True, False], [False, True, False, False]]


# ------------------------------------------------------------------------------ labels.h5


def test_labels_round_trip(tmp_path):
    state = LabelState(
        labelled_round=np.array([[0, 1, 2], [2, 0, 0]], dtype=np.int8),
        scores=np.array([[-np.inf, 0.5, 0.25], [1.0, 0.0, -np.inf]], dtype=np.float32),
        round=2, labelling="multiclass", acquisition="pixbal",
        clicks_per_round=[5, 7], regions_per_round=[1, 2], attrs={"seed": 3},
    )
    write_labels(tmp_path / "labels.h5", state)
    back = read_labels(tmp_path / "labels.h5")
    assert np.array_equal(back.labelled_round, state.labelled_round)
    assert np.array_equal(back.scores, state.scores)
    assert (back.round, back.labelling, back.acquisition) == (2, "multiclass", "pixbal")
    assert back.clicks_per_round == [5, 7] and back.regions_per_round == [1, 2]
    assert back.attrs["seed"] == 3
    assert back.labelled.tolist() == [[False, True, True], [True, False, False]]


def test_labels_with_wrong_history_length_is_an_error_and_writes_nothing(tmp_path):
    state = LabelState(np.zeros((1, 2), np.int8), np.zeros((1, 2), np.float32), 2,
                       "dominant", "random", [5], [1])
    with pytest.raises(StoreError, match="2 entries"):
        write_labels(tmp_path / "labels.h5", state)
    assert leftovers(tmp_path) == []


# ------------------------------------------------------------------------------ pseudo.h5


def test_pseudo_round_trip_with_differing_sizes(tmp_path):
    maps = [np.array([[1, 255, 2]], np.uint8), np.arange(6, dtype=np.uint8).reshape(3, 2)]
    with PseudoWriter(tmp_path / "pseudo.h5", [4, 9], [1, 3], [3, 2], {"round": 1}) as writer:
        for slot, label_map in enumerate(maps):
            writer.add(slot, label_map)
    store = PseudoStore(tmp_path / "pseudo.h5")
    assert len(store) == 2 and store.image_index.tolist() == [4, 9]
    for slot, label_map in enumerate(maps):
        assert np.array_equal(store.label(slot), label_map)
    assert store.attrs["round"] == 1


def test_pseudo_writer_failure_or_missing_map_leaves_no_file(tmp_path):
    with pytest.raises(StoreError, match="never written"):
        with PseudoWriter(tmp_path / "pseudo.h5", [0, 1], [2, 2], [2, 2], {}) as writer:
            writer.add(0, np.zeros((2, 2), np.uint8))
    with pytest.raises(KeyError):
        with PseudoWriter(tmp_path / "pseudo.h5", [0], [2], [2], {}) as writer:
            raise KeyError("boom")
    assert leftovers(tmp_path) == []


def test_atomic_output_makes_ordinary_permissions(tmp_path):
    import os
    import stat

    from actseg.fileio import atomic_output

    old = os.umask(0o022)
    try:
        with atomic_output(tmp_path / "x.csv") as tmp:
            tmp.write_text("a\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.csv").stat().st_mode) == 0o644


# ------------------------------------------------------- corruption inside a store (issue 17)


def flip_byte_in(path, dataset: str) -> None:
    """Flip one bit in the middle of `dataset`'s first stored chunk."""
    with h5py.File(path, "r") as f:
        dset = f[dataset]
        if dset.chunks:
            info = dset.id.get_chunk_info(0)
            offset, size = info.byte_offset, info.size
        else:
            offset, size = dset.id.get_offset(), dset.id.get_storage_size()
    with open(path, "r+b") as f:
        f.seek(offset + size // 2)
        byte = f.read(1)[0]
        f.seek(offset + size // 2)
        f.write(bytes([byte ^ 0x10]))


def test_a_flipped_bit_in_labels_is_a_store_error_naming_file_and_dataset(tmp_path):
    path = tmp_path / "labels.h5"
    rng = np.random.default_rng(0)
    write_labels(path, LabelState(rng.integers(0, 2, (8, 64)).astype(np.int8),
                                  rng.random((8, 64)).astype(np.float32), 1, "multiclass",
                                  "random", [3], [2]))
    flip_byte_in(path, "scores")
    with pytest.raises(StoreError, match=f"{path}: cannot read dataset 'scores'"):
        read_labels(path)


def test_a_flipped_bit_in_an_uncompressed_dataset_is_detected(tmp_path):
    path = tmp_path / "regions.h5"
    write_two(path)
    flip_byte_in(path, "heights")
    with pytest.raises(StoreError, match=f"{path}: cannot read dataset 'heights'"):
        RegionsStore(path)


def test_region_reduce_sums_and_maxes_each_regions_histogram_stretch():
    # regions (flat): 0 = {0: 10}, 1 = {1: 6, 2: 4}, 2 = absent, 3 = {2: 3, void: 7}
    table = OracleTable(np.zeros((2, 2), np.uint32), np.zeros((2, 2), np.uint8),
                        np.array([[10, 10], [0, 10]], np.int32), np.zeros((2, 2), np.int32),
                        num_classes=3, hist_sizes=np.array([[1, 2], [0, 2]], np.uint8),
                        hist_classes=np.array([0, 1, 2, 2, 3], np.uint8),
                        hist_counts=np.array([10, 6, 4, 3, 7], np.int32))
    assert table.region_reduce(np.maximum).tolist() == [10, 6, 0, 7]
    assert table.region_reduce(np.add).tolist() == [10, 10, 0, 10]
    assert table.region_reduce(np.add, np.array([1, 0, 1, 0, 0])).tolist() == [1, 1, 0, 0]
