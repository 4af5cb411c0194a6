"""Trust, round three (docs/bad_input.md #69-#78): classes of silent wrong results and tracebacks
that are now one line, before any training; each case failed differently before."""

import json
import subprocess
import sys

import pytest

from homogenization.core.errors import UserError
from homogenization.core.run_record import read_record
from homogenization.training.recipe import train
from tests.helpers import compose_config, write_tsv


def refused(tmp_path, overrides, message):
    with pytest.raises(UserError, match=message) as error:
        train(compose_config(tmp_path / "run", overrides))
    assert "\n" not in str(error.value)
    assert not (tmp_path / "run" / "run.json").exists()


def tsv_files(tmp_path, rows, test_rows=None):
    files = {}
    for split, split_rows in (("train", rows), ("dev", rows), ("test", test_rows or rows[::-1])):
        files[split] = write_tsv(tmp_path / f"{split}.tsv", split_rows)
    return [f"data.files.{split}={path}" for split, path in files.items()]


GOOD = [(f"a good film number {i}", "pos") for i in range(20)] + \
    [(f"a bad film {i}", "neg") for i in range(20)]


def test_the_label_column_as_text_is_refused(tmp_path):
    refused(tmp_path, ["data=tsv", *tsv_files(tmp_path, GOOD), "data.text_column=label"],
            "data.text_column and data.label_column are both 'label'")


def test_labels_differing_only_in_case_are_refused_with_file_and_line(tmp_path):
    rows = GOOD[:-1] + [("a bad film indeed", "Neg")]
    refused(tmp_path, ["data=tsv", *tsv_files(tmp_path, rows)],
            r"train.tsv:41: label 'Neg' differs from label 'neg' \(line 22\) only in letter case")


def test_a_test_label_differing_only_in_case_is_named_as_such(tmp_path):
    test_rows = [("a good play", "pos"), ("a bad play", "NEG")]
    refused(tmp_path, ["data=tsv", *tsv_files(tmp_path, GOOD, test_rows)],
            r"test.tsv:3: label 'NEG' differs from label 'neg' only in letter case")


def test_a_training_split_with_one_label_is_refused(tmp_path):
    rows = [(f"a good film number {i}", "pos") for i in range(30)]
    refused(tmp_path, ["data=tsv", *tsv_files(tmp_path, rows, [("a good play", "pos")])],
            r"the training split holds 1 label \(\['pos'\]\)")


def test_an_object_used_as_text_is_refused(tmp_path):
    for split in ("train", "validation", "test"):
        rows = [{"text": {"title": f"film {i}", "body": "good" if i % 2 else "bad"}, "label": i % 2}
                for i in range(20)]
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    mapping = ", ".join(f"{s}: '{tmp_path / f'{s}.jsonl'}'" for s in ("train", "validation", "test"))
    refused(tmp_path, ["data=hf", "data.dataset=json", f"data.data_files={{{mapping}}}"],
            r"data.text_column=text holds a dict")


def test_a_decoder_only_backbone_is_refused(tmp_path):
    from transformers import GPT2Config, GPT2Model, PreTrainedTokenizerFast

    from tests.tiny_backbones import _family
    tokenizer, specials, _ = _family("roberta", ["a good film", "a bad film"] * 50, 64)
    directory = tmp_path / "gpt2"
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, **specials).save_pretrained(directory)
    GPT2Model(GPT2Config(vocab_size=tokenizer.get_vocab_size(), n_positions=64, n_embd=32, n_layer=1,
                         n_head=2)).save_pretrained(directory)
    refused(tmp_path, ["model=bert", f"backbone={directory}"], "a gpt2 decoder-only model")


@pytest.mark.parametrize("override, message", [
    ("trainer.max_epochs=-1", r"trainer.max_epochs=-1: must be a whole number >= 1 \(-1 trains forever"),
    ("trainer.check_val_every_n_epoch=0", "trainer.check_val_every_n_epoch=0: must be a whole number >= 1"),
    ("trainer.limit_train_batches=-3", "trainer.limit_train_batches=-3: give null"),
    ("trainer.limit_val_batches=1.5", "trainer.limit_val_batches=1.5: give null"),
    ("+trainer.accumulate_grad_batches=0", "trainer.accumulate_grad_batches=0"),
    ("trainer.accelerator=gpu", "trainer.accelerator=gpu: no GPU is visible here"),
])
def test_trainer_values_that_cannot_work_are_one_line_before_start(tmp_path, override, message):
    import torch
    if "accelerator" in override and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    refused(tmp_path, [override], message)


def test_the_command_gives_the_trainer_value_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "homogenization.cli.train", "trainer.max_epochs=-1",
                           f"paths.output_dir={tmp_path / 'run'}"], capture_output=True, text=True)
    assert done.returncode == 2 and "trainer.max_epochs=-1" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_per_epoch_records_are_ignored_for_pretraining_with_one_line(tmp_path, caplog):
    from tests.helpers import pretrain_tiny_bert  # noqa: F401  (the corpus helper's data)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"the film number {i} was good and the play was bad" for i in range(200)))
    with caplog.at_level("INFO"):
        train(compose_config(tmp_path / "run", ["data=wikitext2", f"data.files=[{corpus}]",
                                                "model=bert_pretrain", "data.block_size=32",
                                                "record.every_epoch=true"]))
    assert read_record(tmp_path / "run").status == "complete"
    assert "record.every_epoch: ignored for MaskedLanguageModel" in caplog.text


def test_a_sweep_checks_the_data_its_jobs_share_once_before_any_job_starts(tmp_path):
    rows = [("a good film", "pos"), ('"a bad film', "neg")] + GOOD
    files = tsv_files(tmp_path, rows)
    done = subprocess.run([sys.executable, "-m", "homogenization.cli.train", "-m", "data=tsv", *files,
                           "seed=1,2,3", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                          capture_output=True, text=True)
    errors = [line for line in (done.stdout + done.stderr).splitlines() if "error" in line]
    assert done.returncode == 2 and len(errors) == 1, done.stdout + done.stderr
    assert "train.tsv:3: a quoted field opens here" in errors[0] and "no job was started" in errors[0]
    assert not list(tmp_path.rglob("run.json"))


def test_a_sweep_over_data_leaves_the_checks_to_its_jobs():
    from omegaconf import OmegaConf

    from homogenization.training.sweep_preflight import swept_keys
    config = OmegaConf.create({"hydra": {"sweeper": {"params": {"seed": "1,2"}},
                                         "overrides": {"task": ["data=sst2,tsv", "model=cnn_lstm"]}}})
    assert swept_keys(config) == {"seed", "data"}
