"""``python -m hukou.cli``."""

from hukou.cli import main

main()
