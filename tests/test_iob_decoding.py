"""IOB2-constrained Viterbi decoding against brute-force enumeration."""

import itertools

import torch

from lightning_modules.iob_decoding import allowed_transitions, decode_words, viterbi

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def valid(path: list[str]) -> bool:
    return all(not tag.startswith("I-") or (i > 0 and path[i - 1][2:] == tag[2:])
               for i, tag in enumerate(path))


def brute_force(log_probs: torch.Tensor) -> list[int]:
    best = max((path for path in itertools.product(range(len(TAGS)), repeat=len(log_probs))
                if valid([TAGS[i] for i in path])),
               key=lambda path: sum(log_probs[step, tag] for step, tag in enumerate(path)))
    return list(best)


def test_transitions_of_iob2():
    allowed, first = allowed_transitions(TAGS)
    assert first.tolist() == [True, True, False, True, False]
    assert allowed[TAGS.index("B-PER"), TAGS.index("I-PER")]
    assert allowed[TAGS.index("I-PER"), TAGS.index("I-PER")]
    assert not allowed[TAGS.index("O"), TAGS.index("I-PER")]
    assert not allowed[TAGS.index("B-LOC"), TAGS.index("I-PER")]
    assert allowed[:, TAGS.index("B-LOC")].all() and allowed[:, TAGS.index("O")].all()


def test_viterbi_equals_the_best_valid_sequence_by_enumeration():
    generator = torch.Generator().manual_seed(0)
    lengths = torch.tensor([4, 1, 3, 4, 2, 4])
    log_probs = (3 * torch.randn(len(lengths), 4, len(TAGS), generator=generator)).log_softmax(-1)
    paths = viterbi(log_probs, lengths, *allowed_transitions(TAGS))
    for row, length in enumerate(lengths.tolist()):
        assert paths[row, :length].tolist() == brute_force(log_probs[row, :length])


def test_decode_words_repairs_an_invalid_argmax_and_keeps_valid_ones():
    # Row 1: argmax O, I-PER (invalid) -> the best valid sequence; row 2: B-LOC I-LOC (valid).
    probabilities = torch.tensor([[0.6, 0.1, 0.1, 0.1, 0.1], [0.3, 0.05, 0.55, 0.05, 0.05],
                                  [0.1, 0.1, 0.1, 0.6, 0.1], [0.1, 0.1, 0.1, 0.1, 0.6]])
    tags = decode_words(probabilities.log(), torch.tensor([2, 2]), *allowed_transitions(TAGS))
    argmax = probabilities.argmax(dim=1).tolist()
    assert argmax[:2] == [0, 2] and not valid([TAGS[i] for i in argmax[:2]])
    assert tags[:2].tolist() == brute_force(probabilities[:2].log()) == [0, 0]
    assert tags[2:].tolist() == [3, 4]
