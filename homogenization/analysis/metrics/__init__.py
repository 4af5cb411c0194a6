"""The pair measures: the registry every consumer reads (`registry`), the per-block sums they are
computed from (`block_statistics`), agreement and representation similarity, the streamed further
measures, CKA's Gram tile by tile (`gram_tiles`), and the multi-bootstrap's draws (`bootstrap`).
"""
