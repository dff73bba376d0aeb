"""``python -m lottery`` runs the command line."""

from lottery.cli import entry

entry()
