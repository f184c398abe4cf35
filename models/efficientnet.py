"""(placeholder: filled by the model-zoo work)."""
