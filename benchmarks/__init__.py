"""Benchmarks of livewhisper: ``python -m benchmarks NAME`` runs one (see ``--help``).

- ``engine``: seconds per call, real-time factor and peak RSS of whisper.cpp (livewhisper)
  against faster-whisper, per model, precision, chunk length and thread count.
- ``accuracy``: corpus WER over the shared English clips, livewhisper against
  faster-whisper on the same weights.

Results print as markdown tables and are written to ``benchmarks/results/NAME.json``.
"""
