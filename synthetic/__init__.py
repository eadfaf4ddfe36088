"""Command lines that write synthetic training corpora (the logic lives in ``chronos_pkg``).

- ``python -m synthetic.kernel_synth``: Gaussian-process series (KernelSynth).
- ``python -m synthetic.tsmixup``: convex mixtures of real series (TSMixup).
"""
