"""Measures of results: forecast errors, classification scores, BLEU."""
