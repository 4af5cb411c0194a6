"""IOB2-constrained decoding: the best tag sequence that is a valid IOB2 sequence.

A per-word softmax tagger can predict ``O I-PER`` or ``B-ORG I-LOC``: spans no entity scorer can
match, which cost precision. Viterbi over the word log-probabilities with the invalid transitions
forbidden (``I-X`` only after ``B-X`` or ``I-X``, never first) returns the most probable valid
sequence, the decoding constraint of a CRF tagger without its learned transition scores.
"""

from __future__ import annotations

import torch


def allowed_transitions(tags: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(allowed[previous, next] [C, C], allowed_first [C]) for IOB2 tag names."""
    def inside_of(tag: str) -> str | None:
        return tag[2:] if tag.startswith("I-") else None

    allowed_first = torch.tensor([inside_of(tag) is None for tag in tags])
    allowed = torch.tensor([[inside_of(following) is None or previous[2:] == inside_of(following)
                             and previous[:2] in ("B-", "I-") for following in tags]
                            for previous in tags])
    return allowed, allowed_first


def viterbi(log_probs: torch.Tensor, lengths: torch.Tensor, allowed: torch.Tensor,
            allowed_first: torch.Tensor) -> torch.Tensor:
    """Best allowed path per row: ``log_probs`` [B, W, C] (row b valid up to lengths[b]) ->
    tag indices [B, W] (positions past a row's length repeat its last tag)."""
    forbidden = torch.tensor(float("-inf"), dtype=log_probs.dtype, device=log_probs.device)
    transition = torch.where(allowed.to(log_probs.device), 0.0, forbidden)
    score = log_probs[:, 0] + torch.where(allowed_first.to(log_probs.device), 0.0, forbidden)
    keep = torch.arange(log_probs.shape[2], device=log_probs.device).expand_as(score)
    backpointers = []
    for step in range(1, log_probs.shape[1]):
        best, previous = (score.unsqueeze(2) + transition).max(dim=1)  # over the previous tag
        inside = (step < lengths).unsqueeze(1).to(log_probs.device)
        score = torch.where(inside, best + log_probs[:, step], score)
        backpointers.append(torch.where(inside, previous, keep))
    tag = score.argmax(dim=1)
    path = [tag]
    for previous in reversed(backpointers):
        tag = previous.gather(1, tag.unsqueeze(1)).squeeze(1)
        path.append(tag)
    return torch.stack(path[::-1], dim=1)


def decode_words(word_logits: torch.Tensor, words_per_row: torch.Tensor, allowed: torch.Tensor,
                 allowed_first: torch.Tensor) -> torch.Tensor:
    """Constrained tags for words given row after row (``word_logits`` [N, C], as
    ``logits[words]`` flattens them) -> [N]."""
    rows = torch.nn.utils.rnn.pad_sequence(
        list(word_logits.float().log_softmax(dim=-1).split(words_per_row.tolist())),
        batch_first=True)
    tags = viterbi(rows, words_per_row, allowed, allowed_first)
    inside = torch.arange(rows.shape[1]).unsqueeze(0) < words_per_row.cpu().unsqueeze(1)
    return tags[inside.to(tags.device)]
