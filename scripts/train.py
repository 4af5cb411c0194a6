"""Train one model, or a sweep with -m (the same as ``homog-train``; see README.md)."""

from homogenization.cli.train import main

if __name__ == "__main__":
    main()
