"""Building blocks shared by several metrics (colour conversions, filters, MATLAB-exact helpers)."""
