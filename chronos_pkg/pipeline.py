"""``chronos_pkg.pipeline`` from the flat layout: ``ChronosPipeline`` now lives in
:mod:`chronos_pkg.t5.pipeline`."""

from chronos_pkg.t5.pipeline import ChronosPipeline

__all__ = ["ChronosPipeline"]
