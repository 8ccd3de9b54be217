"""``python -m escalate`` runs the command line."""

from escalate.cli import main

main()
