"""Framework overhead and input pipeline, per model and task, run by hand:

    python benchmarks/overhead.py                  # cnn_lstm, transformer x sst2, conll2003
    python benchmarks/overhead.py --models cnn_lstm --data sst2 --batches 100 --repeats 5

For each (model, data): training throughput (examples/s) of our LightningModule under the Trainer
with the default callbacks (checkpointing, RNG state, NaN guard, epoch summary; no progress bar,
as in a batch job) versus a hand-written PyTorch loop over the identical batches, model and
optimizer + schedule + gradient clipping; the batches/s the training DataLoader delivers alone;
the padding fraction of its batches; and tokenization time, cold versus cached. Median of
--repeats runs, with min and max.
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

from tests.helpers import compose_config  # noqa: E402
from training.recipe import build, build_callbacks  # noqa: E402


def config(run_dir: Path, model: str, data: str, batches: int, cache: Path):
    return compose_config(run_dir, [f"model={model}", f"data={data}", "trainer.accelerator=cpu",
                                    "trainer.max_epochs=1", f"trainer.limit_train_batches={batches}",
                                    "trainer.limit_val_batches=0", "trainer.num_sanity_val_steps=0",
                                    "trainer.enable_progress_bar=false", "callbacks.progress_bar=null",
                                    "trainer.enable_model_summary=false",
                                    f"data.max_train_examples={batches * 64}"], cache_dir=cache, fast=False)


def lightning_seconds(cfg) -> float:
    datamodule, _, model = build(cfg)
    trainer = instantiate(cfg.trainer, callbacks=build_callbacks(cfg.callbacks, False), logger=False)
    started = time.perf_counter()
    trainer.fit(model, datamodule=datamodule)
    return time.perf_counter() - started


def hand_loop_seconds(cfg, batches: int) -> float:
    datamodule, _, model = build(cfg)
    model._trainer = SimpleNamespace(estimated_stepping_batches=batches)  # all the schedule reads
    optimizers = model.configure_optimizers()
    optimizer = optimizers["optimizer"] if isinstance(optimizers, dict) else optimizers
    scheduler = optimizers["lr_scheduler"]["scheduler"] if isinstance(optimizers, dict) else None
    model.train()
    started = time.perf_counter()
    for index, batch in enumerate(datamodule.train_dataloader()):
        if index == batches:
            break
        loss, *_ = model._step(batch)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.trainer.gradient_clip_val)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    return time.perf_counter() - started


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
    args = parser.parse_args()
    pl.seed_everything(0)
    print("| model | data | Lightning ex/s | hand loop ex/s | ratio | loader batches/s | model batches/s "
          "| padding | tokenize cold / cached (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for data in args.data.split(","):
        for model in args.models.split(","):
            with tempfile.TemporaryDirectory() as scratch:
                scratch = Path(scratch)
                cfg = config(scratch / "run", model, data, args.batches, scratch / "cache")
                cold, cached = tokenization_seconds(cfg)
                examples = args.batches * cfg.data.batch_size
                lightning, hand = [], []
                for repeat in range(args.repeats):
                    run_cfg = config(scratch / f"run{repeat}", model, data, args.batches, scratch / "cache")
                    lightning.append(examples / lightning_seconds(run_cfg))
                    hand.append(examples / hand_loop_seconds(run_cfg, args.batches))
                loader_rate, padding = loader_stats(cfg, args.batches)
                ratio = statistics.median(lightning) / statistics.median(hand)
                model_rate = statistics.median(lightning) / cfg.data.batch_size
                print(f"| {model} | {data} | {spread(lightning)} | {spread(hand)} | {ratio:.3f} "
                      f"| {loader_rate:.0f} | {model_rate:.1f} | {padding:.1%} | {cold:.1f} / {cached:.2f} |",
                      flush=True)


if __name__ == "__main__":
    main()
