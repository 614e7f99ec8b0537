"""Small real data sets bundled with nbnet (no network needed)."""
