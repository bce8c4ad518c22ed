"""One module per tab; each lays out its tab with build(ctx)."""
