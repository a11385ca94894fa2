"""The calibration job: score the TID2013 calibration pairs with every metric that has official values and
regenerate ``docs/calibration.md``. Exports nothing at package level."""
