"""Chronos-Bolt: patches of the context in, quantiles of the next steps out, in one pass.

config (``ChronosBoltConfig``) -> model (the network, with the optional seasonal reference of
``seasonal``) -> checkpoint (build, save, load) -> pipeline (``ChronosBoltPipeline``), mirroring
``chronos_pkg.t5``.
"""
