"""Relative positions of the transformer encoder (model.encoder.position=relative)."""

import torch

from lightning_modules.encoders.transformer import TransformerEncoder


def relative_encoder(num_layers: int = 1) -> TransformerEncoder:
    torch.manual_seed(0)
    return TransformerEncoder(50, 0, d_model=16, num_layers=num_layers, num_heads=2, ff_dim=32,
                              dropout=0.0, position="relative", max_distance=4).eval()


def test_bias_is_indexed_by_signed_distance():
    """Every head attends to the previous word only: a word's output then depends on the word
    before it and not on the word after it (a wrong sign or offset of the distance breaks this)."""
    encoder = relative_encoder()
    with torch.no_grad():
        encoder.relative_bias.bias.weight.fill_(-30.0)
        encoder.relative_bias.bias.weight[4 - 1] = 30.0  # row max_distance + (key - query) = -1
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    mask = torch.ones_like(ids)
    reference = encoder.token_representations(ids, mask)[0, 2]
    after, before = ids.clone(), ids.clone()
    after[0, 3], before[0, 1] = 20, 20
    assert torch.allclose(encoder.token_representations(after, mask)[0, 2], reference, atol=1e-5)
    assert not torch.allclose(encoder.token_representations(before, mask)[0, 2], reference,
                              atol=1e-3)


def test_inference_without_gradients_is_finite_and_ignores_padding():
    """torch's inference fast path reads a float attention mask as boolean and returns NaN
    (pytorch/pytorch#118628); evaluation runs without gradients, so it must not be taken."""
    encoder = relative_encoder(num_layers=2)
    torch.nn.init.normal_(encoder.relative_bias.bias.weight)
    ids = torch.tensor([[5, 6, 7, 8, 9, 10], [11, 12, 13, 0, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        batched = encoder.token_representations(ids, mask)
        alone = encoder.token_representations(ids[1:, :3], mask[1:, :3])
    assert torch.isfinite(batched).all()
    assert torch.allclose(batched[1, :3], alone[0], atol=1e-5)
    assert torch.allclose(batched, encoder.token_representations(ids, mask), atol=1e-5)
