"""Compare finished runs and write a homogenization report (the same as ``homog-analyze``)."""

from homogenization.cli.analyze import main

if __name__ == "__main__":
    main()
