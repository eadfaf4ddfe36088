"""Synthetic training data: KernelSynth (Gaussian-process series), TSMixup (mixtures of real
series), and the resumable sharded writer both use (``shards``)."""
