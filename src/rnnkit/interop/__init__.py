"""Other systems: PyTorch (conversion, twin modules, the torch engine), ONNX export,
scikit-learn estimators. Each imports its optional dependency only when used."""
