"""Integration tests: Keras runs on the JAX backend (set before anything imports keras)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
