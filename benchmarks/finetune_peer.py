"""The framework against the Hugging Face Trainer, fine-tuning a real pretrained backbone.

    python benchmarks/finetune_peer.py --steps 60 --repeats 2

Both fine-tune all-MiniLM-L6-v2 (backbone=minilm, the installed package) on SST-2 with the same
tokenizer and max_length, the same batches in the same order (the Trainer is handed the
framework's own training DataLoader, keys renamed), AdamW with the same learning rate, betas,
weight decay (none on biases and LayerNorm), linear warm-up over the first 10% then linear decay,
gradient clipping at 1.0, batch size 32, fp32, on the same threads. Repeats are interleaved
(framework, Trainer, framework, Trainer, ...) so the machine's load falls on both alike; each mode
runs with length bucketing (data.bucket_batches=50, the default) and without (0). Throughput is
the steady state: examples per second from the start of step WARMUP to the end of the last step,
time-stamped by a callback on each side. Printed: one line per mode,
``ratio <mode> <framework / Trainer throughput>`` (median over repeats, with the range), and the
test accuracy of both after the last repeat.

The models differ in one place: the framework's head is a linear layer on the [CLS] vector
(model.encoder.pooling=cls); the Trainer's BertForSequenceClassification adds BERT's pooler
(a 384 x 384 dense layer with tanh) first, a little more compute on its side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hydra.utils import instantiate  # noqa: E402

from benchmarks.overhead import WARMUP, StepClock  # noqa: E402
from homogenization.training.compose import compose_train_config  # noqa: E402
from homogenization.training.recipe import build, build_callbacks  # noqa: E402

BATCH = 32
MODEL_INPUTS = ("input_ids", "attention_mask", "labels")


def framework_config(run_dir: Path, steps: int, bucket: bool, cache: Path):
    return compose_train_config(run_dir, [
        # fp32 on both sides (model=bert's CPU default is bf16-mixed; the Trainer below runs fp32)
        "model=bert", "backbone=minilm", "data=sst2", "trainer.accelerator=cpu", "model.precision=32-true",
        f"data.bucket_batches={50 if bucket else 0}", f"data.batch_size={BATCH}",
        f"trainer.max_steps={steps}", "trainer.max_epochs=1", "trainer.limit_val_batches=0",
        "trainer.num_sanity_val_steps=0", "trainer.enable_progress_bar=false",
        "callbacks.progress_bar=null", "trainer.enable_model_summary=false",
        f"data.max_train_examples={steps * BATCH}"], cache_dir=cache)


def steady_throughput(starts: list[float], end: float) -> float:
    """Examples per second from the start of step WARMUP to the end of the last step."""
    return (len(starts) - WARMUP) * BATCH / (end - starts[WARMUP])


def accuracy(forward, loader) -> float:
    right = total = 0
    with torch.no_grad():
        for batch in loader:
            logits = forward(batch)
            right += int((logits.argmax(-1) == batch["labels"]).sum())
            total += len(batch["labels"])
    return right / total


def framework_run(cfg) -> tuple[float, float]:
    """(steady examples/s, test accuracy) of the framework's own fit."""
    datamodule, _, model = build(cfg)
    clock = StepClock()
    trainer = instantiate(cfg.trainer, callbacks=[*build_callbacks(cfg.callbacks), clock], logger=False)
    trainer.fit(model, datamodule=datamodule)
    datamodule.setup("test")
    model.eval()
    found = accuracy(lambda batch: model(batch["input_ids"], batch["attention_mask"])[0],
                     datamodule.test_dataloader())
    return steady_throughput(clock.starts, clock.end), found


def _renamed(collate):
    return lambda examples: {key: value for key, value in collate(examples).items() if key in MODEL_INPUTS}


def trainer_run(cfg, steps: int, output: Path) -> tuple[float, float]:
    """(steady examples/s, test accuracy) of the Hugging Face Trainer on the framework's batches."""
    from torch.utils.data import DataLoader
    from transformers import AutoModelForSequenceClassification, Trainer, TrainerCallback, TrainingArguments

    datamodule, _, _ = build(cfg)
    datamodule.setup("fit")
    ours = datamodule.train_dataloader()
    loader = DataLoader(ours.dataset, batch_sampler=ours.batch_sampler, collate_fn=_renamed(ours.collate_fn))
    optimizer = cfg.model.optimizer
    arguments = TrainingArguments(
        output_dir=str(output), max_steps=steps, per_device_train_batch_size=BATCH,
        learning_rate=optimizer.lr, weight_decay=optimizer.weight_decay, adam_beta1=optimizer.betas[0],
        adam_beta2=optimizer.betas[1], adam_epsilon=optimizer.eps, lr_scheduler_type="linear",
        warmup_steps=int(cfg.model.scheduler.warmup_fraction * steps),
        max_grad_norm=cfg.trainer.gradient_clip_val,
        logging_strategy="no", save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True,
        dataloader_num_workers=0, seed=int(cfg.seed_init))

    class Clock(TrainerCallback):
        """Time stamps at the start and end of every optimizer step (StepClock's twin)."""

        def __init__(self):
            self.starts: list[float] = []
            self.end = 0.0

        def on_step_begin(self, *args, **kwargs):
            self.starts.append(time.perf_counter())

        def on_step_end(self, *args, **kwargs):
            self.end = time.perf_counter()

    class OnOurBatches(Trainer):
        def get_train_dataloader(self):
            return loader

    model = AutoModelForSequenceClassification.from_pretrained(cfg.model.pretrained, num_labels=2)
    clock = Clock()
    OnOurBatches(model=model, args=arguments, callbacks=[clock]).train()
    datamodule.setup("test")
    model.eval()
    found = accuracy(lambda batch: model(input_ids=batch["input_ids"],
                                         attention_mask=batch["attention_mask"]).logits,
                     datamodule.test_dataloader())
    return steady_throughput(clock.starts, clock.end), found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--modes", default="bucketing,no-bucketing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        for mode in args.modes.split(","):
            bucket = mode == "bucketing"
            cfg = framework_config(work / mode, args.steps, bucket, work / "cache")
            ratios, accuracies = [], {}
            for repeat in range(args.repeats):
                ours, accuracies["framework"] = framework_run(cfg)
                theirs, accuracies["trainer"] = trainer_run(cfg, args.steps, work / f"hf-{mode}-{repeat}")
                ratios.append(ours / theirs)
                print(f"# {mode} repeat {repeat}: framework {ours:.1f} ex/s, Trainer {theirs:.1f} ex/s",
                      flush=True)
            print(f"ratio {mode} {statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f}, "
                  f"{args.repeats} interleaved repeats of {args.steps} steps)")
            print(f"accuracy {mode} framework {accuracies['framework']:.3f} "
                  f"Trainer {accuracies['trainer']:.3f}", flush=True)


if __name__ == "__main__":
    main()
