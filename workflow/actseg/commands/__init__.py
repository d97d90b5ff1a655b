"""One module per CLI command: `add_arguments(parser)` and `run(args)`; the shared options
(settings from the schema, run options) are in `actseg.commands.options`."""
