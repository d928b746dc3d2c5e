"""The CLI's commands other than run: each turns arguments into files and an exit code."""
