"""Tables and figures: one module per table or figure, each reading only artifacts."""
