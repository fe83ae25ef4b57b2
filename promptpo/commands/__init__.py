"""The `promptpo` subcommands, one module per topic; heavy imports stay inside the commands."""
