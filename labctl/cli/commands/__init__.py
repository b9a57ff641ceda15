"""labctl's commands, one module each (see labctl.cli)."""
