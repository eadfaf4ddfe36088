"""Command-line entry points for pretraining (``python -m training.train``); logic lives in
``chronos_pkg.train``."""
