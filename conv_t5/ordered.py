"""Old path of OrderedUpdates, kept for saved configs and user code.

operative_config.gin files written by `conv_t5_mesh_transformer` before the
move hold `import conv_t5.ordered`; the optimizer now lives in
conv_t5.training.ordered (gin name unchanged: conv_t5.OrderedUpdates).
"""

from conv_t5.training.ordered import OrderedUpdates  # noqa: F401
