"""Model registry: the models kb knows by name, their files, licences, checksums and how each is found."""
from .registry import MODELS, ModelSpec, resolve_model

__all__ = ["MODELS", "ModelSpec", "resolve_model"]
