"""Rank 1..N-1 of a single-node DDP job: train from the job's resolved config (training/ddp.py)."""

import sys

from omegaconf import OmegaConf

from homogenization.training.recipe import train

if __name__ == "__main__":
    train(OmegaConf.load(sys.argv[1]))
