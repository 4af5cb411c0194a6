"""A battery of malformed inputs and faults against the three commands, each in a fresh process:
does every user mistake get one clear line (exit 2, no traceback), and does what should work work?

    python benchmarks/fault_battery.py                 # every case, a table of outcomes
    python benchmarks/fault_battery.py --only import   # the cases of one command

A case is (name, command, expectation): ``error`` (refused: exit 2, one ``error:`` line, no
traceback) or ``ok`` (exit 0). The outcome column says ``OK`` when the expectation held, else
``TRACEBACK``, ``NOT REFUSED`` (exit 0 where an error was due), ``MULTI-LINE`` or ``FAILED``.
The cases are the fourth trust round's fresh batch (issue 36), not the ones docs/bad_input.md
lists; the classes they found are fixed and tested in tests/test_trust_round_four.py.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BIN = Path(sys.executable).parent


@dataclass
class Case:
    name: str
    command: list[str]
    expect: str            # "error" | "ok"


def write(path: Path, text: str | bytes) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


def folder_name(case: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", case)


def long_table(models=("a", "b", "c"), items: int = 40, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 2, items)
    rows = ["model,item,prediction,gold"]
    for model in models:
        wrong = rng.random(items) < 0.25
        rows += [f"{model},{i},{['neg', 'pos'][g ^ w]},{['neg', 'pos'][g]}" for i, (g, w) in
                 enumerate(zip(gold, wrong))]
    return "\n".join(rows) + "\n"


def import_cases(root: Path) -> list[Case]:
    good = long_table()
    lines = good.splitlines()

    def table(name: str, text: str | bytes) -> str:
        return write(root / "tables" / name, text)

    def imp(name: str, expect: str, table_path: str, *extra: str) -> Case:
        return Case(f"import: {name}", [str(BIN / "homog-import"), f"table={table_path}",
                                        f"out={root / 'out' / folder_name(name)}", *extra], expect)

    def probabilities(line: str) -> str:
        return '"[0.8, 0.2]"' if line.split(",")[2] == "neg" else '"[0.2, 0.8]"'

    with_probs = ["model,item,prediction,gold,probs"]
    with_probs += [f"{line},{probabilities(line)}" for line in lines[1:]]
    return [
        imp("a valid table", "ok", table("good.csv", good)),
        imp("an empty file", "error", table("empty.csv", "")),
        imp("a header only", "error", table("header.csv", lines[0] + "\n")),
        imp("a directory as the table", "error", str(root / "tables")),
        imp("a table that does not exist", "error", str(root / "nope.csv")),
        imp("a byte-order mark before the header", "ok", table("bom.csv", "\ufeff" + good)),
        imp("CRLF line ends", "ok", table("crlf.csv", good.replace("\n", "\r\n"))),
        imp("semicolons for commas", "error", table("semi.csv", good.replace(",", ";"))),
        imp("an empty gold cell", "error", table("nogold.csv", "\n".join(
            [lines[0], lines[1].rsplit(",", 1)[0] + ",", *lines[2:]]) + "\n")),
        imp("an empty item cell", "error", table("noitem.csv", good.replace("a,3,", "a,,", 1))),
        imp("an empty model cell", "error", table("nomodel.csv", good.replace("\na,5,", "\n,5,", 1))),
        imp("a model name of 300 characters", "error",
            table("long.csv", good.replace("\nb,", "\n" + "b" * 300 + ",")), ),
        imp("a model name with a newline", "error",
            table("newline.csv", good.replace("\nb,", '\n"b\nx",'))),
        imp("a model name that is a dot", "error", table("dot.csv", good.replace("\nb,", "\n.,"))),
        imp("model names equal but for case (one folder on macOS)", "error",
            table("case.csv", good.replace("\nb,", "\nA,"))),
        imp("one item twice with two predictions", "error",
            table("twice.csv", good + "a,0,pos,neg\n")),
        imp("an item's gold differs between models", "error",
            table("golddiff.csv", good.replace("\nb,0,", "\nb,0,X", 1))),
        imp("a model missing an item", "error", table("missing.csv", "\n".join(
            line for line in lines if not line.startswith("c,7,")) + "\n")),
        imp("labels= a string, not a list", "error", table("g2.csv", good), "labels=neg"),
        imp("labels= without a gold label", "error", table("g3.csv", good), "labels=[neg]"),
        imp("labels= with a duplicate", "error", table("g4.csv", good), "labels=[neg,pos,neg]"),
        imp("columns.probabilities naming no column", "error", table("g5.csv", good),
            "columns.probabilities=probs"),
        imp("probabilities, valid", "ok", table("probs.csv", "\n".join(with_probs) + "\n"),
            "columns.probabilities=probs"),
        imp("probabilities of the wrong length", "error",
            table("plen.csv", "\n".join(with_probs).replace("[0.8, 0.2]", "[0.8, 0.1, 0.1]", 1) + "\n"),
            "columns.probabilities=probs"),
        imp("a negative probability", "error",
            table("pneg.csv", "\n".join(with_probs).replace("[0.8, 0.2]", "[1.2, -0.2]", 1) + "\n"),
            "columns.probabilities=probs"),
        imp("probabilities that are not JSON", "error",
            table("pjson.csv", "\n".join(with_probs).replace("[0.8, 0.2]", "[0.8; 0.2]", 1) + "\n"),
            "columns.probabilities=probs"),
        imp("layout=diagonal", "error", table("g6.csv", good), "layout=diagonal"),
        imp("layout=wide with one model column", "ok",
            table("wide.csv", "item,gold,m1\n" + "".join(f"{i},pos,neg\n" for i in range(9)) + "9,neg,neg\n"),
            "layout=wide"),
        imp("layout=wide on a long table", "error", table("g7.csv", good), "layout=wide"),
        imp("encoding= a codec that does not exist", "error", table("g8.csv", good), "encoding=utf-99"),
        imp("a UTF-16 file read as UTF-8", "error", table("u16.csv", good.encode("utf-16"))),
        imp("a Parquet file that is not Parquet", "error", table("bad.parquet", b"PAR1garbage")),
        imp("a JSONL line that is a list", "error", table("list.jsonl", "[1, 2, 3]\n")),
        imp("an .xlsx table", "error", table("t.xlsx", b"PK\x03\x04")),
        # the data set's name is a field of run.json, never a path: any text is a name
        imp("name= with a path separator", "ok", table("g9.csv", good), "name=../x"),
        imp("columns.model= a column that does not exist", "error", table("g10.csv", good),
            "columns.model=system"),
        Case("import: out= an existing file",
             [str(BIN / "homog-import"), f"table={table('g11.csv', good)}",
              f"out={write(root / 'a_file', 'x')}"], "error"),
        imp("test_data= a data config that does not exist", "error", table("g12.csv", good),
            "test_data=nosuchdata"),
        imp("a prediction of 1.0 for integer labels", "error",
            table("float.csv", "model,item,prediction,gold\na,0,1.0,1\na,1,0,0\nb,0,1,1\nb,1,0,0\n")),
        imp("mixed integer and text items", "ok",
            table("mixed.csv", "model,item,prediction,gold\na,1,x,x\na,b,y,y\nb,1,x,x\nb,b,x,y\n")),
        imp("one model only", "ok", table("one.csv", "\n".join(lines[:41]) + "\n")),
        imp("abstain= a gold label", "error", table("g13.csv", good), "abstain=pos"),
        imp("a key that does not exist", "error", table("g14.csv", good), "colums.model=x"),
        imp("a TSV table", "ok", table("good.tsv", good.replace(",", "\t"))),
        imp("a JSONL table", "ok", table("good.jsonl", "".join(
            json.dumps(dict(zip(lines[0].split(","), line.split(",")))) + "\n" for line in lines[1:]))),
        imp("an empty probability cell without abstain=", "error",
            table("pempty.csv", "\n".join(with_probs).replace(',"[0.8, 0.2]"', ",", 1) + "\n"),
            "columns.probabilities=probs"),
    ]


def analyze_cases(root: Path, imported: Path) -> list[Case]:
    def ana(name: str, expect: str, *args: str) -> Case:
        return Case(f"analyze: {name}", [str(BIN / "homog-analyze"), *args,
                                         f"out={root / 'reports' / folder_name(name)}"], expect)

    runs = f"runs={imported}"
    broken = root / "broken"
    broken.mkdir()
    for name in ("truncated", "running"):
        target = broken / name
        subprocess.run(["cp", "-r", str(imported), str(target)], check=True)
    first = sorted((broken / "truncated").iterdir())[0] / "run.json"
    first.write_text(first.read_text()[:200])
    record_path = sorted((broken / "running").iterdir())[0] / "run.json"
    record = json.loads(record_path.read_text())
    record["status"] = "running"
    record_path.write_text(json.dumps(record))
    one = root / "one_run"
    one.mkdir(exist_ok=True)
    subprocess.run(["cp", "-r", str(sorted(imported.iterdir())[0]), str(one)], check=True)
    return [
        ana("valid runs", "ok", runs, "bootstrap=50"),
        ana("an empty folder", "error", f"runs={write(root / 'empty' / '.keep', '') and root / 'empty'}"),
        ana("a folder that does not exist", "error", f"runs={root / 'nowhere'}"),
        ana("a file as runs", "error", f"runs={write(root / 'file.txt', 'x')}"),
        ana("bootstrap=-5", "error", runs, "bootstrap=-5"),
        ana("bootstrap=abc", "error", runs, "bootstrap=abc"),
        ana("bootstrap=0", "ok", runs, "bootstrap=0"),
        ana("trend= a key no run has", "error", runs, "trend=no.such.key"),
        ana("factors= a factor no run has", "error", runs, "factors=[no_such_factor]"),
        ana("group_by= a key no run has", "error", runs, "group_by=[no.such.key]"),
        ana("measures= an unknown measure", "error", runs, "measures=[telepathy]"),
        ana("unit= an unknown unit", "error", runs, "unit=paragraph"),
        ana("nest= a key no run has", "error", runs, "nest=no.such.key"),
        # a damaged record is skipped with a line naming it and the report's "Skipped runs" lists it
        ana("a truncated run.json", "ok", f"runs={broken / 'truncated'}", "bootstrap=50"),
        ana("a run still running", "ok", f"runs={broken / 'running'}", "bootstrap=50"),
        ana("one run only", "error", f"runs={one}"),
        Case("analyze: out= an existing file", [str(BIN / "homog-analyze"), runs,
                                                f"out={write(root / 'report_file', 'x')}"], "error"),
        ana("seed=abc", "error", runs, "seed=abc"),
        ana("blocks=0", "error", runs, "blocks=0"),
        ana("pair_weighting=maybe", "error", runs, "pair_weighting=maybe"),
        ana("jobs=0", "error", runs, "jobs=0"),
        ana("device=tpu", "error", runs, "device=tpu"),
        ana("runs= a glob that matches nothing", "error", f"runs={root / 'nothing*'}"),
        ana("bootstrap=1", "error", runs, "bootstrap=1"),
    ]


def train_cases(root: Path) -> list[Case]:
    def train(name: str, expect: str, *args: str) -> Case:
        return Case(f"train: {name}", [str(BIN / "homog-train"), "data=demo", "trainer.max_steps=2",
                                       "trainer.limit_val_batches=1", "trainer.limit_test_batches=1",
                                       f"hydra.run.dir={root / 'train' / folder_name(name)}",
                                       *args], expect)

    tsv = "text\tlabel\n" + "".join(f"sentence {i} {['bad', 'good'][i % 2]}\t{i % 2}\n" for i in range(40))
    train_tsv = write(root / "tsv" / "train.tsv", tsv)
    no_label = write(root / "tsv" / "nolabel.tsv", tsv.replace("\tlabel", "\tstars"))
    empty_checkpoint = root / "empty_checkpoint"
    empty_checkpoint.mkdir()
    return [
        train("valid", "ok"),
        train("model=finetuned without checkpoint=", "error", "model=finetuned"),
        train("checkpoint= a folder that does not exist", "error", "model=finetuned",
              f"checkpoint={root / 'no_checkpoint'}"),
        train("checkpoint= a file", "error", "model=finetuned", f"checkpoint={train_tsv}"),
        train("checkpoint= an empty folder", "error", "model=finetuned", f"checkpoint={empty_checkpoint}"),
        train("data=sst2 where the data folder is empty", "error", "data=sst2",
              f"paths.data_dir={root / 'no_data'}"),
        train("data=tsv, a train file that does not exist", "error", "data=tsv",
              f"data.files.train={root / 'none.tsv'}", f"data.files.test={train_tsv}"),
        train("data=tsv without the label column", "error", "data=tsv", f"data.files.train={no_label}",
              f"data.files.test={no_label}"),
        train("data=tsv with train as test, no dev file", "ok", "data=tsv", f"data.files.train={train_tsv}",
              f"data.files.test={train_tsv}"),
        train("seed=abc", "error", "seed=abc"),
        train("data.max_length=0", "error", "data.max_length=0"),
        train("trainer.max_epochs=-2", "error", "trainer.max_epochs=-2"),
        train("model= an unknown model", "error", "model=gpt9"),
        train("data.train_fraction=1.5", "error", "data.train_fraction=1.5"),
        train("data.train_fraction=0", "error", "data.train_fraction=0"),
        train("data.max_train_examples=0", "error", "data.max_train_examples=0"),
        train("model.optimizer.lr=-1", "error", "model.optimizer.lr=-1"),
        train("a key not in the config", "error", "trainer.max_epoch=2"),
        train("data.batch_size=0", "error", "data.batch_size=0"),
        train("torch_threads=0", "error", "torch_threads=0"),
        train("record.layers= a layer the model lacks", "error", "record.layers=[99]"),
        train("ckpt_path= a file that does not exist", "error", f"ckpt_path={root / 'no.ckpt'}"),
        train("backbone= a folder that does not exist", "error", "model=bert",
              f"backbone={root / 'nobackbone'}"),
        train("check_determinism=maybe", "error", "check_determinism=maybe"),
        train("trainer.precision=13", "error", "trainer.precision=13"),
        train("data.label_offset=abc", "error", "data=tsv", "data.label_offset=abc"),
        train("seed_init=-1", "error", "seed_init=-1"),
        train("trainer.gradient_clip_val=-1", "error", "trainer.gradient_clip_val=-1"),
        train("trainer.limit_train_batches=1.5", "error", "trainer.limit_train_batches=1.5"),
        train("trainer.max_steps=-5", "error", "trainer.max_steps=-5"),
        train("model.optimizer.weight_decay=-1", "error", "model.optimizer.weight_decay=-1"),
        train("record.export_steps=[0]", "error", "record.export_steps=[0]"),
        train("data.max_train_examples=-3", "error", "data.max_train_examples=-3"),
    ]


def classify(case: Case, result: subprocess.CompletedProcess) -> str:
    output = result.stdout + result.stderr
    if "Traceback" in output:
        return "TRACEBACK"
    if case.expect == "ok":
        return "OK" if result.returncode == 0 else "FAILED"
    if result.returncode == 0:
        return "NOT REFUSED"
    errors = [line for line in output.splitlines() if line.startswith("error:") or "] - error: " in line]
    return "OK" if result.returncode == 2 and len(errors) == 1 else "MULTI-LINE"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["import", "analyze", "train"])
    parser.add_argument("--timeout", type=int, default=180)
    args = parser.parse_args()
    env = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        imported = root / "imported"
        subprocess.run([str(BIN / "homog-import"), f"table={write(root / 'base.csv', long_table(items=200))}",
                        f"out={imported}"], check=True, capture_output=True, env=env, cwd=root)
        cases = [*import_cases(root), *analyze_cases(root, imported), *train_cases(root)]
        cases = [case for case in cases if args.only is None or case.name.startswith(args.only)]
        counts: dict[str, int] = {}
        print("| case | expected | outcome | last line |\n|---|---|---|---|")
        for case in cases:
            try:
                result = subprocess.run(case.command, capture_output=True, text=True, env=env, cwd=root,
                                        timeout=args.timeout)
                outcome = classify(case, result)
                lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
                last = next((line for line in lines if line.startswith("error:") or "] - error: " in line),
                            lines[-1] if lines else "")
            except subprocess.TimeoutExpired:
                outcome, last = "TIMEOUT", ""
            counts[outcome] = counts.get(outcome, 0) + 1
            print(f"| {case.name} | {case.expect} | {outcome} | {last[:160].replace('|', '/')} |", flush=True)
        print(f"{len(cases)} cases: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))


if __name__ == "__main__":
    main()
