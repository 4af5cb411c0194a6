"""The analysis at scale: the pairwise work (CKA's Gram, the further measures) split into jobs
(local processes through submitit; the SLURM job array is in test_slurm.py) and merged into the
report a single process writes; the scale settings checked with one line."""

import numpy as np
import pandas as pd
import pytest

from homogenization.analysis.make_report import make_report
from homogenization.analysis.runs.synthetic_runs import write_run
from homogenization.analysis.study import Settings
from homogenization.core.errors import UserError


def small_study(root, runs: int = 6, units: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    label, shared = rng.integers(0, 2, units), rng.normal(size=(units, 12))
    for run in range(runs):
        pred = np.where(rng.random(units) < 0.2, 1 - label, label)
        write_run(root / f"r{run}", pred, label, shared + rng.normal(size=(units, 12)),
                  model="ab"[run % 2], seed=run)
    return root


def report_tables(out):
    return {name: pd.read_csv(out / name) for name in ("pairs.csv", "groups.csv", "factors.csv")}


def assert_same_report(found, expected):
    """The same tiles computed by the same code: identical, not merely close."""
    for name, table in expected.items():
        pd.testing.assert_frame_equal(found[name], table, check_exact=True)


def test_the_pairwise_work_split_into_local_jobs_gives_the_single_process_report(tmp_path, caplog):
    """12 runs: one tile in one process; for 3 jobs, chunks of 8 and 4 runs, 3 tiles, one per job:
    CKA's Gram and the further representation measures."""
    runs = small_study(tmp_path / "runs", runs=12)
    settings = dict(bootstrap=40, knn_bootstrap=4, measures=["procrustes", "svcca", "pwcca", "rsa"])
    make_report([str(runs)], tmp_path / "one", ["model"], Settings(**settings))
    with caplog.at_level("INFO"):
        split = make_report([str(runs)], tmp_path / "split", ["model"],
                            Settings(**settings, jobs=3, launcher="local"))
    assert "CKA Gram: 3 tiles in 3 local jobs" in caplog.text
    assert "Further measures: 3 tiles in 3 local jobs" in caplog.text
    assert_same_report(report_tables(tmp_path / "split"), report_tables(tmp_path / "one"))
    assert split.pairs[["linear_cka", "procrustes", "svcca", "pwcca", "rsa"]].notna().all().all()
    assert not (tmp_path / ".split.work").exists()          # the scratch directory is removed


@pytest.mark.parametrize("key, value, words", [
    ("device", "tpu", "choose auto, cpu or cuda"), ("jobs", 0, "at least 1"),
    ("launcher", "kubernetes", "choose local"),
])
def test_a_wrong_scale_setting_is_one_line(key, value, words):
    with pytest.raises(UserError, match=words) as error:
        Settings(**{key: value})
    assert f"analysis.{key}=" in str(error.value) and "\n" not in str(error.value)


def test_cuda_on_a_machine_without_a_gpu_is_one_line():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(UserError, match="torch sees no GPU"):
        Settings(device="cuda")


class Unreadable:
    """Representations whose reading fails in the job (a file gone between the analysis's first
    read and the job's)."""

    def __len__(self):
        return 2

    def __getitem__(self, index):
        raise OSError(f"representations of run {index} are gone")


def test_an_analysis_job_that_fails_is_one_line_naming_its_log(tmp_path):
    from homogenization.analysis.jobs import JobSplit, run_jobs
    from homogenization.analysis.metrics.gram_tiles import _compute_tiles

    split = JobSplit(jobs=1, launcher="local", folder=tmp_path)
    arguments = (Unreadable(), np.zeros(10, dtype=int), 1, "cpu", False)
    with pytest.raises(UserError, match=r"analysis job \S+ failed: .*gone \(its log: .*\); fix the cause"):
        run_jobs(_compute_tiles, [[(range(0, 2), range(0, 2))]], arguments, split, "CKA Gram")


def test_the_chunked_fits_and_block_sums_equal_their_whole_array_forms():
    """Memory at scale: fits over replicates done 100 at a time (the trend against capability, the
    attribution's baseline) and block sums by sorted runs equal the one-shot computations."""
    from homogenization.analysis.design.attribution import weighted_least_squares
    from homogenization.analysis.metrics.block_statistics import block_sums
    from homogenization.analysis.metrics.bootstrap import PAIR_MEAN_CHUNK, by_replicate_chunks

    rng = np.random.default_rng(3)
    replicates, pairs = 2 * PAIR_MEAN_CHUNK + 17, 40
    design = np.column_stack([np.ones(pairs), rng.random(pairs)])
    weights, values = rng.random((replicates, pairs)), rng.random((replicates, pairs))
    whole = weighted_least_squares(design, weights, values)
    chunked = by_replicate_chunks(lambda w, v: weighted_least_squares(design, w, v), weights, values)
    assert chunked.shape == whole.shape and np.array_equal(chunked, whole)

    blocks = rng.integers(0, 9, 500)          # block 9 of 10 is empty: its sum is 0
    errors = rng.random((3, 500)) > 0.5
    found = block_sums(errors, blocks, 10)
    assert np.allclose(found, errors.astype(float) @ np.eye(10)[blocks], rtol=0, atol=1e-12)
    assert (found[:, 9] == 0).all() and found.sum() == errors.sum()
