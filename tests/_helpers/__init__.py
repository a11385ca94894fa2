"""Helpers shared by the test rooms (imported as ``tests._helpers.X``; no ``sys.path`` edits).

- ``builders``: small images, CSVs, split pickles and archives for the dataset tests.
- ``fakehub``: a Hugging Face hub on 127.0.0.1 (dataset repos; :func:`fakehub.FakeModelHub` for model repos).
- ``random_weights`` (with ``random_weights_b``, ``random_weights_topiq``): caches seeded with random weight files.
- ``equivalence``: comparing our deep metrics with pyiqa 0.1.16 under identical weights.
"""
