"""Entry points: the ``iqabench`` command and the ``python -m jobs.<job>`` modules for ``ray job submit``."""
