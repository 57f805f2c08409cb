"""Data that changed under a card is never served from the cache nor taken as already recorded.

Found by an outside check: with a local `hub:` folder or a `generator` card, every test label
was flipped; `inspect` showed the new labels, but `run` reused the cached encoded splits and
reported the same score, and the record was skipped as already recorded."""

from __future__ import annotations

import datasets
import pytest
import yaml
from test_card_formats import ROWS
from test_cards import base_card, write_card

SUITE = {
    "name": "changed",
    "backbones": [{"name": "bert-tiny", "max_length": 16, "vocab_size": 200}],
    "sources": ["none"],
    "methods": {"finetune": {}},
    "fractions": [1.0],
    "seeds": [0],
    "budget": {"num_train_epochs": 4, "per_device_train_batch_size": 16, "learning_rate": 3e-3},
}
GEN = """
import datasets

def make(path):
    saved = datasets.load_from_disk(path)
    return {"train": saved["train"], "test": saved["test"]}
"""


def _save(folder, flip_test: bool) -> None:
    def rows(n, flip):
        words = [("good fine nice great", 1), ("bad awful poor worse", 0)]
        out = {"sentence": [], "label": []}
        for i in range(n):
            text, label = words[i % 2]
            out["sentence"].append(f"{text} {i % 7}")
            out["label"].append(1 - label if flip else label)
        return datasets.Dataset.from_dict(
            out,
            features=datasets.Features(
                {
                    "sentence": datasets.Value("string"),
                    "label": datasets.ClassLabel(names=["neg", "pos"]),
                }
            ),
        )

    dd = datasets.DatasetDict({"train": rows(64, False), "test": rows(40, flip_test)})
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    dd.save_to_disk(str(folder))


def _hub_folder(folder, flip_test: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / (folder.name + "-dd")
    _save(tmp, flip_test)
    d = datasets.load_from_disk(str(tmp))
    for split in ("train", "test"):
        d[split].to_parquet(str(folder / f"{split}.parquet"))


@pytest.mark.parametrize("kind", ["generator", "hub"])
def test_flipped_labels_behind_a_card_give_a_new_score(kind, tmp_path, run_main):
    cards = tmp_path / "cards"
    cards.mkdir()
    data = tmp_path / "saved"
    card = base_card(name="flippable")
    if kind == "generator":
        (cards / "gen.py").write_text(GEN)
        card["data"] = {"generator": {"function": "gen.py:make", "kwargs": {"path": str(data)}}}
        make = _save
    else:
        card["data"] = {"hub": {"path": str(data)}}
        make = _hub_folder
    (cards / "flippable.yaml").write_text(yaml.safe_dump(card))
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump({**SUITE, "targets": ["flippable"]}))
    argv = [
        "run",
        "--config",
        tmp_path / "suite.yaml",
        "--include_path",
        cards,
        "--output_dir",
        tmp_path / "out",
        "--cache_dir",
        tmp_path / "cache",
    ]

    def score():
        from harness.records import load_records

        (record,) = load_records(tmp_path / "out")[0]
        return record["primary_score"]

    make(data, flip_test=False)
    first = run_main(*argv)
    assert first.returncode == 0, first.stderr[-2000:]
    before = score()
    assert before > 0.8  # the words decide the label: it learns
    make(data, flip_test=True)
    again = run_main(*argv)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "changed since it was recorded" in again.stdout
    assert score() == pytest.approx(1 - before)  # every test label flipped: the new labels scored


def test_loading_writes_nothing_under_the_data_folder(tmp_path):
    """A save_to_disk folder read through a generator got `cache-*.arrow` files from the
    transforms of loading (dropping rows, flattening), which then broke the `hub:` route."""
    from harness.cards import load_card
    from harness.data.loading import load_task

    cards = tmp_path / "cards"
    cards.mkdir()
    data = tmp_path / "saved"
    rows = {
        "sentence": [f"s{i}" for i in range(30)],
        "label": ["neg", "pos", "-"] * 10,
    }  # '-': no gold
    datasets.DatasetDict(
        {"train": datasets.Dataset.from_dict(rows), "test": datasets.Dataset.from_dict(rows)}
    ).save_to_disk(str(data))
    before = sorted(p.relative_to(data) for p in data.rglob("*"))
    (cards / "gen.py").write_text(GEN)
    card = base_card(name="saved_task", drop_unknown_labels=True)
    card["data"] = {"generator": {"function": "gen.py:make", "kwargs": {"path": str(data)}}}
    (cards / "saved_task.yaml").write_text(yaml.safe_dump(card))
    td = load_task(load_card(cards / "saved_task.yaml"))
    assert len(td.test) == 20  # the '-' rows dropped: a select and a flatten ran
    assert sorted(p.relative_to(data) for p in data.rglob("*")) == before


def _csv_card(tmp_path, rows: list[str]):
    """`base_card`'s toy task (it reads `<data_dir>/toy/{train,test}.csv`) over `rows`."""
    folder = tmp_path / "data" / "toy"
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        (folder / f"{split}.csv").write_text("sentence,label\n" + "\n".join(rows) + "\n")
    return write_card(tmp_path / "cards", base_card())


def _fingerprint(card_path, data_dir) -> str:
    from harness.cards import load_card
    from harness.data.loading import load_source_split

    return load_source_split(load_card(card_path), "train", [data_dir]).fingerprint


def test_a_data_file_is_fingerprinted_by_its_content_not_its_time(tmp_path):
    """The shared data folder is copied afresh for every session, with new modification times:
    keyed on times, every cached multi-task phase and every record of the day before was taken
    for changed data (the 3-seed GLUE run retrained its finished phases each session)."""
    import os
    import shutil

    card = _csv_card(tmp_path, ROWS)
    data = tmp_path / "data"
    train = data / "toy" / "train.csv"
    before = _fingerprint(card, data)
    os.utime(train, ns=(10**18, 10**18))  # the same bytes, another time
    assert _fingerprint(card, data) == before
    copy = tmp_path / "copy"
    shutil.copytree(data, copy)  # a copied data folder: same names and contents
    assert _fingerprint(card, copy) == before
    stat = train.stat()
    text = train.read_text()
    swapped = text.replace(",neg", ",tmp", 1).replace(",pos", ",neg", 1).replace(",tmp", ",pos", 1)
    train.write_text(swapped)  # two rows' labels swapped
    os.utime(train, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # edited in place, size and time kept
    assert train.stat().st_size == stat.st_size
    assert _fingerprint(card, data) != before


def _tiny_local_model(folder, real_data_dir, seed: int) -> None:
    """A local model folder: MiniLM's tokenizer and a 1-layer, 16-wide BERT of `seed`."""
    import shutil

    import torch
    from transformers import BertConfig, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    minilm = real_data_dir / "models/all-MiniLM-L6-v2"
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(minilm / name, folder / name)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)


@pytest.mark.realdata
def test_a_model_replaced_under_its_name_is_never_served_from_the_cache(
    tmp_path, run_main, real_data_dir
):
    """Cache keys and records named a local or Hub model only by its name: new weights in the
    same folder (or a new Hub revision) got the encodings, sources and multi-task phases of the
    old ones, and every record counted as current."""
    from harness.backbones import BackboneSpec

    model = tmp_path / "model"
    _tiny_local_model(model, real_data_dir, seed=0)
    card = _csv_card(tmp_path, ROWS)
    suite = {
        **SUITE,
        "backbones": [{"name": str(model), "max_length": 16}],
        "targets": ["toy"],
        "budget": {**SUITE["budget"], "num_train_epochs": 1},
    }
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    argv = [
        "run",
        "--config",
        tmp_path / "suite.yaml",
        "--include_path",
        card.parent,
        "--data_dir",
        tmp_path / "data",
        "--output_dir",
        tmp_path / "out",
        "--cache_dir",
        tmp_path / "cache",
    ]
    first = run_main(*argv)
    assert first.returncode == 0, first.stderr[-2000:]
    again = run_main(*argv)  # the same weights: recorded, nothing to run
    assert "changed since it was recorded" not in again.stdout
    _tiny_local_model(model, real_data_dir, seed=1)  # new weights under the same name
    third = run_main(*argv)
    assert third.returncode == 0, third.stderr[-2000:]
    assert (
        f"backbone {model} (its weights)" in third.stdout
        and "changed since it was recorded" in third.stdout
    )
    # and the input pipeline, which keys every cache built on the backbone, moved with them
    from harness.cache import Cache
    from harness.preprocess import build_pipeline

    spec = BackboneSpec(name=str(model), max_length=16)
    now = build_pipeline(spec, [], Cache(tmp_path / "c2", None)).identity
    _tiny_local_model(model, real_data_dir, seed=0)
    assert build_pipeline(spec, [], Cache(tmp_path / "c2", None)).identity != now
