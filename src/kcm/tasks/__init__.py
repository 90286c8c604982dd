"""Task adapters: one module per modality (data, small model, large model, hint)."""
