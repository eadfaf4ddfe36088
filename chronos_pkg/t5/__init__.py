"""Chronos-T5: values tokenized into bins, sample paths from a T5 (or causal) language model.

config (``ChronosConfig``) -> tokenizer (``MeanScaleUniformBins``) -> model (the network and
our sampling loop, with counter-based random numbers from ``sampling``) -> checkpoint (build,
save, load) -> pipeline (``ChronosPipeline``, the public face).
"""
