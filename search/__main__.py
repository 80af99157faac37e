"""`python -m search`: the same command line as the `search` script."""

from search.cli import main

if __name__ == "__main__":
    main()
