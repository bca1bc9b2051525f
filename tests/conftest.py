"""Shared test setup: CPU only, quiet TF, and the compatibility fix first."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import conv_t5  # noqa: E402,F401  (must precede any mesh_tensorflow import)
