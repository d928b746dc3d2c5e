"""The measurement engine (pure): histograms, the stats tables a worker records and the master merges,
the packed delta between them, tag groups and the bound on distinct request names."""
