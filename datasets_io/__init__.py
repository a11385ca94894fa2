"""Datasets: pyiqa-compatible options and meta-info → Arrow manifests; decoding; downloads; the demo set."""
