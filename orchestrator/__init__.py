"""Plan the metric × dataset matrix, run it on Ray Data, store scores, compute statistics, export, track."""
