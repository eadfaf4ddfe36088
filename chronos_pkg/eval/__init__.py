"""The Chronos benchmark: ``datasets`` (which, where, their series) -> ``harness`` (test
windows, one scoring loop for every forecaster, the result CSV) with ``metrics`` (MASE, WQL),
``baselines`` and ``forecasters`` (a baseline or a checkpoint by name) -> ``aggregate``
(relative scores, geometric means). ``gluonts_adapter`` serves GluonTS' own backtesting."""
