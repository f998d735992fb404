"""The CLI's sub-commands, one module per job, imported only when the command runs."""
