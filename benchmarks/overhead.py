"""Framework overhead and input pipeline, per model and task, run by hand:

    python benchmarks/overhead.py                  # cnn_lstm, transformer x sst2, conll2003
    python benchmarks/overhead.py --models cnn_lstm --data sst2 --batches 100 --repeats 5

For each (model, data): training throughput (examples/s) of our LightningModule under the Trainer
with the default callbacks (checkpointing, RNG state, NaN guard, epoch summary; no progress bar,
as in a batch job) versus a hand-written PyTorch loop over the identical batches, model and
optimizer + schedule + gradient clipping; the same with length-bucketed batches; the batches/s
the training DataLoader delivers alone; the padding fraction of its batches with and without
bucketing; and tokenization time, cold versus cached. Median of --repeats runs, with min and max.

Throughput is measured in the steady state (after WARMUP batches, time stamped at each batch's
start and end, the same way in both loops); "ratio, whole fit" also counts the Trainer's set-up,
and the checkpoint it writes at the end, per batch, which a short benchmark inflates.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytorch_lightning as pl
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hydra.utils import instantiate  # noqa: E402

from homogenization.training.compose import compose_train_config  # noqa: E402
from homogenization.training.recipe import build, build_callbacks  # noqa: E402

BUCKET_BATCHES = 50


def config(run_dir: Path, model: str, data: str, batches: int, cache: Path, bucket_batches: int = 0):
    return compose_train_config(run_dir, [f"model={model}", f"data={data}", "trainer.accelerator=cpu",
                                    f"data.bucket_batches={bucket_batches}",
                                    "trainer.max_epochs=1", f"trainer.limit_train_batches={batches}",
                                    "trainer.limit_val_batches=0", "trainer.num_sanity_val_steps=0",
                                    "trainer.enable_progress_bar=false", "callbacks.progress_bar=null",
                                    "trainer.enable_model_summary=false",
                                    f"data.max_train_examples={batches * 64}"], cache_dir=cache)


WARMUP = 5  # batches left out of the throughput: first-call allocations, loader start-up


class StepClock(pl.Callback):
    """Time stamps at the start and end of every training batch (after the other callbacks)."""

    def __init__(self):
        self.starts: list[float] = []
        self.end = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.starts.append(time.perf_counter())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.end = time.perf_counter()


def steady_seconds(starts: list[float], end: float) -> float:
    """Seconds per batch after the warm-up: from the start of batch WARMUP to the last one's end."""
    return (end - starts[WARMUP]) / (len(starts) - WARMUP)


def lightning_seconds(cfg) -> tuple[float, float]:
    """(steady seconds per batch, seconds of the whole ``fit`` per batch incl. set-up and the
    final checkpoint)."""
    datamodule, _, model = build(cfg)
    clock = StepClock()
    trainer = instantiate(cfg.trainer, callbacks=[*build_callbacks(cfg.callbacks), clock],
                          logger=False)
    started = time.perf_counter()
    trainer.fit(model, datamodule=datamodule)
    whole = time.perf_counter() - started
    return steady_seconds(clock.starts, clock.end), whole / len(clock.starts)


def hand_loop_seconds(cfg, batches: int) -> tuple[float, float]:
    """The same as ``lightning_seconds`` for a hand-written loop."""
    datamodule, _, model = build(cfg)
    model._trainer = SimpleNamespace(estimated_stepping_batches=batches)  # all the schedule reads
    optimizers = model.configure_optimizers()
    optimizer = optimizers["optimizer"] if isinstance(optimizers, dict) else optimizers
    scheduler = optimizers["lr_scheduler"]["scheduler"] if isinstance(optimizers, dict) else None
    model.train()
    starts = []
    started = time.perf_counter()
    for index, batch in enumerate(datamodule.train_dataloader()):
        if index == batches:
            break
        starts.append(time.perf_counter())
        loss, *_ = model._step(batch)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.trainer.gradient_clip_val)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    end = time.perf_counter()
    return steady_seconds(starts, end), (end - started) / len(starts)


def loader_stats(cfg, batches: int) -> tuple[float, float]:
    """(batches/s of the DataLoader alone, fraction of padding tokens)."""
    datamodule, _, _ = build(cfg)
    padding = tokens = 0
    started = time.perf_counter()
    for index, batch in enumerate(datamodule.train_dataloader()):
        if index == batches:
            break
        mask = batch["attention_mask"]
        padding += int((mask == 0).sum())
        tokens += mask.numel()
    return batches / (time.perf_counter() - started), padding / tokens


def tokenization_seconds(cfg) -> tuple[float, float]:
    times = []
    for _ in range(2):   # the first call fills the (empty) cache, the second reads it
        datamodule = instantiate(cfg.data, tokenizer=instantiate(cfg.model.tokenizer), data_seed=1)
        started = time.perf_counter()
        datamodule.setup("fit")
        times.append(time.perf_counter() - started)
    return times[0], times[1]


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ({min(values):.0f}–{max(values):.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="cnn_lstm,transformer")
    parser.add_argument("--data", default="sst2,conll2003")
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bucket-batches", type=int, default=BUCKET_BATCHES)
    args = parser.parse_args()
    pl.seed_everything(0)
    print(f"Steady state: batches {WARMUP}..{args.batches} of one epoch; whole fit: incl. set-up "
          f"and the final checkpoint. Bucketed: data.bucket_batches={args.bucket_batches}.")
    print("| model | data | Lightning ex/s | hand loop ex/s | ratio | ratio, whole fit "
          "| bucketed Lightning ex/s | loader batches/s | model batches/s | padding | padding, bucketed "
          "| tokenize cold / cached (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for data in args.data.split(","):
        for model in args.models.split(","):
            with tempfile.TemporaryDirectory() as scratch:
                scratch = Path(scratch)
                cfg = config(scratch / "run", model, data, args.batches, scratch / "cache")
                cold, cached = tokenization_seconds(cfg)
                examples = cfg.data.batch_size
                lightning, hand, bucketed = [], [], []
                for repeat in range(args.repeats):
                    run_cfg = config(scratch / f"run{repeat}", model, data, args.batches, scratch / "cache")
                    lightning.append(lightning_seconds(run_cfg))
                    hand.append(hand_loop_seconds(run_cfg, args.batches))
                    bucket_cfg = config(scratch / f"bucket{repeat}", model, data, args.batches,
                                        scratch / "cache", args.bucket_batches)
                    bucketed.append(examples / lightning_seconds(bucket_cfg)[0])
                steady = [examples / seconds for seconds, _ in lightning]
                steady_hand = [examples / seconds for seconds, _ in hand]
                ratio = statistics.median(steady) / statistics.median(steady_hand)
                whole = (statistics.median(seconds for _, seconds in hand)
                         / statistics.median(seconds for _, seconds in lightning))
                loader_rate, padding = loader_stats(cfg, args.batches)
                _, padding_bucketed = loader_stats(
                    config(scratch / "bucket", model, data, args.batches, scratch / "cache",
                           args.bucket_batches), args.batches)
                model_rate = statistics.median(steady) / cfg.data.batch_size
                print(f"| {model} | {data} | {spread(steady)} | {spread(steady_hand)} | {ratio:.3f} "
                      f"| {whole:.3f} | {spread(bucketed)} | {loader_rate:.0f} | {model_rate:.1f} "
                      f"| {padding:.1%} | {padding_bucketed:.1%} | {cold:.1f} / {cached:.2f} |",
                      flush=True)


if __name__ == "__main__":
    main()
