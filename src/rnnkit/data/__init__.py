"""Data: the bundled data sets, file readers (.ts, CSV, NPZ), text vocabularies, time-series
windows and transforms, generated dates. The data files beside this module are its package data."""
