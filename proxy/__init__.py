"""alpr-proxy: a policy-enforcing, tamper-evidently audited proxy for ALPR plate reads."""

from __future__ import annotations

__version__ = "0.1.0"
