"""Length bucketing of training batches, and the shape embedding / token dropout of the
encoders trained from scratch."""

from types import SimpleNamespace

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from datamodules.sampling import EpochShuffleSampler
from homogenization.core.errors import UserError
from homogenization.core.run_record import read_predictions, read_run_json
from homogenization.training.recipe import build, train
from lightning_modules.encoders.token_embedding import SHAPES, TokenEmbedding, token_shape
from tests.helpers import compose_config


def padding_fraction(order: list[int], lengths: list[int], batch_size: int) -> float:
    padded = real = 0
    for start in range(0, len(order), batch_size):
        batch = [lengths[i] for i in order[start:start + batch_size]]
        padded += max(batch) * len(batch)
        real += sum(batch)
    return 1 - real / padded


@pytest.fixture(scope="module")
def word_lengths(demo_train_texts) -> list[int]:
    """Sentence lengths in words (the generated sentiment task's, 4 to 17 words); 2,390 of them, so
    the last batch of 32 is short."""
    return [len(text.split()) for text in demo_train_texts][:2390]


def test_bucketed_order_is_a_seeded_permutation_with_far_less_padding(word_lengths):
    size, batch = len(word_lengths), 32
    plain = EpochShuffleSampler(size, seed=3, batch_size=batch)
    bucketed = EpochShuffleSampler(size, 3, batch, lengths=word_lengths, bucket_batches=50)
    order = list(bucketed)
    assert sorted(order) == list(range(size))                  # every example once per epoch
    assert order == list(EpochShuffleSampler(size, 3, batch, lengths=word_lengths,
                                             bucket_batches=50))  # seeded
    assert bucketed.order(1).tolist() != order                   # a new order every epoch
    without, with_buckets = (padding_fraction(o, word_lengths, batch) for o in (list(plain), order))
    assert without > 0.3 and with_buckets < without / 4
    # Batches stay random draws: consecutive batches are not sorted by length among themselves.
    longest = [max(word_lengths[i] for i in order[s:s + batch]) for s in range(0, size, batch)]
    assert longest != sorted(longest) and longest != sorted(longest, reverse=True)
    # Only the last batch may be short, so the DataLoader cuts exactly the sampler's batches.
    assert size % batch and len(order[(size // batch) * batch:]) == size % batch


def test_ddp_ranks_each_get_bucketed_batches(word_lengths):
    """Lightning wraps the sampler in a DistributedSamplerWrapper (no shuffle for a custom
    sampler); each rank's batches must still come from one bucket."""
    from lightning_fabric.utilities.distributed import DistributedSamplerWrapper

    size, batch = len(word_lengths), 32

    progress = SimpleNamespace(current=SimpleNamespace(completed=0))
    two_processes = SimpleNamespace(training=True, current_epoch=0, world_size=2, fit_loop=(
        SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=progress))))
    shards = []
    for rank in (0, 1):
        sampler = EpochShuffleSampler(size, 3, batch, lambda: two_processes, word_lengths, 50)
        shards.append(list(DistributedSamplerWrapper(sampler, num_replicas=2, rank=rank,
                                                     shuffle=False)))
    assert set(shards[0]) | set(shards[1]) == set(range(size))
    for shard in shards:
        assert padding_fraction(shard, word_lengths, batch) < 0.1


def test_bucketing_rejects_a_negative_window():
    with pytest.raises(UserError, match="data.bucket_batches=-1"):
        EpochShuffleSampler(10, 0, 2, lengths=[1] * 10, bucket_batches=-1)


def test_token_shapes():
    assert [SHAPES[token_shape(t)] for t in ["[CLS]", "the", "The", "USA", "1996", "A1", ".",
                                             "McDonald", "a", "I"]] == \
        ["special", "lower", "Title", "CAPS", "digits", "alnum", "punct", "mixed", "lower", "Title"]
    assert token_shape("##ing") == token_shape("ing") + len(SHAPES)


def test_token_dropout_and_shape_embedding():
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "paris", "Paris", "##is"]
    torch.manual_seed(0)
    embed = TokenEmbedding(len(vocabulary), 8, 0, vocabulary, shape_embedding=True,
                           token_dropout=0.5)
    ids = torch.tensor([[2] + [6, 5, 7] * 300 + [3]])
    embed.eval()
    unk_embedded, unk_weight = embed(torch.tensor([[1]]))[0, 0], embed.embedding.weight[1]
    assert torch.equal(embed(ids), embed(ids))                     # no dropout in eval
    embed.train()
    out = embed(ids)
    title = embed.embedding.weight[1] + embed.shape_embedding.weight[token_shape("Paris")]
    dropped = torch.isclose(out[0], title).all(dim=-1)[1::3]       # the "Paris" positions
    assert 0.4 < dropped.float().mean() < 0.6                       # [UNK] + its own shape kept
    assert torch.equal(out[0, 0], embed.embedding.weight[2] + embed.shape_embedding.weight[0])
    assert not torch.equal(unk_embedded, unk_weight)  # [UNK] itself has the "special" shape added


def test_tagging_encoders_get_features_and_sentence_encoders_do_not(tmp_path):
    ner = build(compose_config(tmp_path / "ner", ["data=demo_ner", "model=transformer"]))[1]
    sst = build(compose_config(tmp_path / "sst", ["model=cnn_lstm"]))[1]
    assert ner.token_embedding.shape_embedding is not None and ner.token_embedding.token_dropout
    assert sst.embedding.shape_embedding is None and not sst.embedding.token_dropout


def test_length_ordered_evaluation_gives_the_same_predictions(tmp_path):
    """A bucketed run evaluates in length order; the same weights evaluated in file order (no
    bucketing) give every test example the same prediction."""
    run = tmp_path / "bucketed"
    cfg = compose_config(run, ["model=cnn_lstm", "data.bucket_batches=4"])
    test_loader = build(cfg)[0].test_dataloader()
    lengths = [len(ids) for ids in test_loader.dataset.ids]
    order = list(test_loader.sampler)
    assert order != sorted(order) and [lengths[i] for i in order] == sorted(lengths)
    train(cfg)
    bucketed = read_predictions(run)
    test_size = read_run_json(run)["data"]["splits"]["test"]["size"]
    assert (bucketed["example_id"] == np.arange(test_size)).all()

    datamodule, _, model = build(compose_config(tmp_path / "plain", ["model=cnn_lstm",
                                                                   "data.bucket_batches=0"]))
    assert datamodule.test_dataloader().sampler.__class__.__name__ == "SequentialSampler"
    checkpoint = torch.load(run / read_run_json(run)["checkpoint"], weights_only=True)
    model.load_state_dict(checkpoint["state_dict"])
    pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False,
               enable_model_summary=False).test(model, datamodule=datamodule, verbose=False)
    plain = model.test_rows
    assert (plain["pred"] == bucketed["pred"]).all()
    np.testing.assert_allclose(plain["probs"], bucketed["probs"], atol=1e-5)
