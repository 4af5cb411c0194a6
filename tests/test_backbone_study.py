"""experiment=backbone_study end to end, tiny: 2 backbones pretrained on generated text with
different seeds, each fine-tuned (full and probe) with 2 seeds, 2 controls from fresh weights, and
the report with the nested comparison, from one command through the real Hydra sweep."""

import json
import subprocess
import sys

from homogenization.core.run_record import read_run_json
from tests.helpers import FAST, REPO_ROOT, generated_corpus


def test_one_command_pretrains_fine_tunes_controls_and_reports(tmp_path):
    corpus = generated_corpus(tmp_path)
    sweep_dir = tmp_path / "sweep"
    quoted = lambda items: "[" + ",".join(f'"{item}"' for item in items) + "]"   # noqa: E731
    command = [
        sys.executable, "scripts/train.py", "-m", "experiment=backbone_study", f"hydra.sweep.dir={sweep_dir}",
        f"paths.cache_dir={tmp_path / 'cache'}", f"paths.generated_dir={tmp_path / 'generated'}", *FAST,
        "hydra.sweeper.backbones=2", "hydra.sweeper.seeds=2", "hydra.sweeper.probe=true",
        "hydra.sweeper.pretrain=" + quoted(["data=wikitext2", f"data.files=[{corpus}]", "model=bert_pretrain",
                                            "model/size=tiny", "model.tokenizer.vocab_size=1000",
                                            "data.block_size=64"]),
        "hydra.sweeper.finetune=" + quoted(["data=demo", "model=bert", "data.max_train_examples=300",
                                            "data.max_length=64"]),
        "hydra.sweeper.control=" + quoted(["data=demo", "model=bert", "data.max_train_examples=300",
                                           "data.max_length=64"]),
        "hydra.callbacks.homogenization_report.bootstrap=50",
        "hydra.callbacks.homogenization_report.knn_bootstrap=10",
    ]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    records = {path.parent.name: read_run_json(path.parent) for path in sweep_dir.glob("*/run.json")}
    pretrained = {name: r for name, r in records.items() if r["task"] == "masked_lm"}
    finetuned = {name: r for name, r in records.items() if r["task"] != "masked_lm"}
    assert len(pretrained) == 2 and sorted(r["seed"] for r in pretrained.values()) == [1, 2]
    assert len(finetuned) == 10 and all(r["status"] == "complete" for r in records.values())
    methods = sorted(r["backbone"]["finetune"] for r in finetuned.values())
    assert methods == ["full"] * 6 + ["probe"] * 4
    backbones = {r["config"]["study_backbone"]: r["backbone"] for r in finetuned.values()
                 if r["backbone"]["finetune"] == "full"}
    assert set(backbones) == {"pretrained-seed1", "pretrained-seed2", "random-seed1", "random-seed2"}
    exported = {str(sweep_dir / name / r["export"]) for name, r in pretrained.items()}
    assert {backbones[f"pretrained-seed{k}"]["pretrained"] for k in (1, 2)} == exported
    assert backbones["pretrained-seed1"]["sha256"] != backbones["pretrained-seed2"]["sha256"]
    assert {backbones[f"random-seed{m}"]["init"] for m in (1, 2)} == {"random"}
    nested = json.loads((sweep_dir / "report" / "homogenization.json").read_text())["nested"]
    counts = nested["error_consistency"]
    # recipes: pretrained+full (4 runs), pretrained+probe (4), random+full (2 controls).
    # Within a backbone: 2 backbones x 1 pair of seeds, per method; across backbones: 4 per method
    # + 1 pair of controls; across recipes: 4 x 4 + 4 x 2 + 4 x 2.
    assert (counts["within_backbone_pairs"], counts["across_backbones_pairs"],
            counts["across_architectures_pairs"]) == (4, 9, 32)
    assert "## Does a shared backbone homogenize?" in (sweep_dir / "report" / "report.md").read_text()


def test_the_backbones_can_be_siblings_of_one_pretrained_ancestor(tmp_path, tiny_bert):
    """hydra.sweeper.start_from: stage 1 continues one pretrained checkpoint's masked-LM pretraining
    with K seeds (a fresh head each), and stage 2 fine-tunes those K siblings."""
    corpus = generated_corpus(tmp_path)
    sweep_dir = tmp_path / "sweep"
    quoted = lambda items: "[" + ",".join(f'"{item}"' for item in items) + "]"   # noqa: E731
    tuning = ["data=demo", "model=bert", "data.max_train_examples=200", "data.max_length=64"]
    command = [
        sys.executable, "scripts/train.py", "-m", "experiment=backbone_study", f"hydra.sweep.dir={sweep_dir}",
        f"paths.cache_dir={tmp_path / 'cache'}", f"paths.generated_dir={tmp_path / 'generated'}", *FAST,
        "hydra.sweeper.backbones=2", "hydra.sweeper.seeds=2", f"hydra.sweeper.start_from={tiny_bert}",
        "hydra.sweeper.continue_from=" + quoted(["data=wikitext2", f"data.files=[{corpus}]",
                                                 "model=bert_continue_mlm", "data.block_size=64"]),
        "hydra.sweeper.finetune=" + quoted(tuning), "hydra.sweeper.control=" + quoted(tuning),
        "hydra.callbacks.homogenization_report.bootstrap=20",
        "hydra.callbacks.homogenization_report.knn_bootstrap=5",
    ]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    records = {path.parent.name: read_run_json(path.parent) for path in sweep_dir.glob("*/run.json")}
    siblings = [r for r in records.values() if r["task"] == "masked_lm"]
    assert len(siblings) == 2 and all(r["config"]["model"]["name"] == "bert_continue_mlm" for r in siblings)
    ancestor = {r["backbone"]["sha256"] for r in siblings}
    assert len(ancestor) == 1 and {r["backbone"]["pretrained"] for r in siblings} == {str(tiny_bert)}
    finetuned = [r for r in records.values()
                 if r["task"] != "masked_lm" and r["backbone"]["init"] == "pretrained"]
    assert len(finetuned) == 4
    starts = {r["backbone"]["sha256"] for r in finetuned}
    assert len(starts) == 2 and not starts & ancestor      # two siblings, each moved from the ancestor
