"""Command-line entry points of the Chronos benchmark (``python -m evaluation.evaluate``,
``python -m evaluation.aggregate``); the logic lives in ``chronos_pkg``."""
