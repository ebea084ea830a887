"""The applications behind the CLI commands: forecast, classify, textgen, translate, predict."""
